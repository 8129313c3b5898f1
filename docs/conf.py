"""Sphinx configuration for convnet's documentation.

Build it with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors, as in
CI). The build needs no network: the figures of the im2col and bands chapters are drawn
here, from the code, by ``docs/figures.py``. The maths is typeset in the reader's browser by
MathJax, which ``sphinx-mathjax-offline`` copies into the built site (``_static/mathjax``), so
the pages show their equations without internet, in a classroom as anywhere.
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))  # for figures.py

import figures  # noqa: E402

import convnet  # noqa: E402

project = "convnet"
author = "the convnet authors"
copyright = "convnet authors, MIT licence"
release = version = convnet.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 served from _static, not from a CDN
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_figures/*.txt", "README*"]

# MyST: $...$ and $$...$$ for maths (MathJax), ::: fences for notes, anchors for ## headings.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# API pages from the NumPy-style docstrings.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"convnet {release}"
html_static_path: list[str] = []
pygments_style = "sphinx"


def setup(app):
    """Draw the figures of the docs (im2col, bands), with the code they show, on every build.

    (In ``setup`` rather than at import, so that importing this file, as pytest's
    ``--doctest-modules`` does, draws nothing.)
    """
    figures.main(DOCS / "_figures")
