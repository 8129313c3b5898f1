"""The version number, in one place: ``convnet.__version__``, the model files (which record
it) and the package's metadata (``setup.cfg``) all read it here.

Beside the reading path, below everything: a module of its own, rather than a line of
``convnet/__init__.py``, so that the modules that write files can read it without importing
the package's ``__init__``, which imports them.
"""

__version__ = "0.1.0"
