"""pytest runs the ``>>>`` examples of the Markdown pages here (``--doctest-glob``); conf.py is
Sphinx's configuration, which draws the figures when imported, not a module to test."""

collect_ignore = ["conf.py"]
