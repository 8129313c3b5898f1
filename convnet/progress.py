"""Progress bars: tqdm's notebook bar where a notebook can draw it, its text bar elsewhere.

Reading order: beside the path, under **12. callbacks** and **13. data**, whose bars (the
batches of an epoch, a download) it makes. It imports nothing of convnet. Docs chapter:
"Getting started" (the notebook).

``tqdm.auto`` would choose for us, but in a Jupyter kernel without ipywidgets (the package
that draws the notebook bar) it prints "TqdmWarning: IProgress not found" the moment it is
imported, that is at ``from convnet import data``, before any bar is needed, and then falls
back to the text bar anyway. :func:`bar_class` looks before it imports: the notebook bar
only in a kernel that can draw it (``pip install ipywidgets``), the text bar everywhere
else, and no warning.
"""

from __future__ import annotations

import sys

__all__ = ["in_notebook_kernel", "bar_class"]  # and tqdm, the class they choose


def in_notebook_kernel() -> bool:
    """True when this code runs in a Jupyter kernel (a notebook), not in a terminal or script.

    Examples
    --------
    >>> in_notebook_kernel()          # doctests run in plain Python
    False
    """
    ipython = sys.modules.get("IPython")  # never imported here: a kernel has done it already
    shell = ipython.get_ipython() if ipython is not None else None
    # By name, through the class's ancestry: a hosted notebook (Colab's, say) runs a shell
    # of its own derived from Jupyter's.
    return any(cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__)


def bar_class():
    """The tqdm class to make progress bars with: ``tqdm.notebook.tqdm`` in a notebook whose
    tqdm can draw widgets (ipywidgets installed), else the text bar ``tqdm.std.tqdm``.

    Examples
    --------
    >>> bar = bar_class()
    >>> bar.__module__                # not in a notebook: the text bar
    'tqdm.std'
    >>> with bar(total=3, disable=True) as progress:
    ...     progress.update(3)
    """
    if in_notebook_kernel():
        from tqdm.notebook import IProgress  # None when ipywidgets is missing: no warning yet

        if IProgress is not None:
            from tqdm.notebook import tqdm as notebook_bar

            return notebook_bar
    from tqdm.std import tqdm as text_bar

    return text_bar


#: The bar class of this process (:func:`bar_class`, asked once, when convnet is imported).
tqdm = bar_class()
