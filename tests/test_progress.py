"""Progress bars in a notebook: tqdm's widget bar only where it can be drawn, and no
"TqdmWarning: IProgress not found" where it cannot."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tqdm.notebook
import tqdm.std

from convnet import progress

ROOT = Path(__file__).resolve().parent.parent


class ZMQInteractiveShell:
    """Stands for the shell of a Jupyter kernel: what ``get_ipython()`` returns there."""


@pytest.fixture
def in_a_kernel(monkeypatch):
    ipython = pytest.importorskip("IPython")
    monkeypatch.setattr(ipython, "get_ipython", ZMQInteractiveShell)
    assert progress.in_notebook_kernel()


def test_a_script_gets_the_text_bar():
    assert not progress.in_notebook_kernel()
    assert progress.bar_class() is tqdm.std.tqdm


def test_a_kernel_that_can_draw_widgets_gets_the_notebook_bar(in_a_kernel, monkeypatch):
    monkeypatch.setattr(tqdm.notebook, "IProgress", object)  # as if ipywidgets were there
    assert progress.bar_class() is tqdm.notebook.tqdm


def test_a_kernel_without_ipywidgets_gets_the_text_bar_and_no_warning(in_a_kernel, monkeypatch,
                                                                      recwarn):  # fmt: skip
    monkeypatch.setattr(tqdm.notebook, "IProgress", None)  # what tqdm finds without ipywidgets
    assert progress.bar_class() is tqdm.std.tqdm
    assert not [w for w in recwarn if issubclass(w.category, tqdm.std.TqdmWarning)]


def test_importing_convnet_where_tqdm_auto_would_warn_prints_nothing():
    # tqdm.auto takes a loaded ipykernel.zmqshell for a notebook and, without ipywidgets,
    # warns as it is imported; convnet's modules with bars must not pass that on.
    code = ("import ipykernel.zmqshell\n"
            "from convnet import callbacks, data\n"
            "print(data.tqdm.__module__)\n")  # fmt: skip
    pytest.importorskip("ipykernel")
    if pytest.importorskip("tqdm.notebook").IProgress is not None:
        pytest.skip("ipywidgets is installed: tqdm.auto would not warn here")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "tqdm.std"
    assert "TqdmWarning" not in run.stderr and "IProgress" not in run.stderr, run.stderr


def test_a_real_notebook_kernel_imports_convnet_without_a_warning(monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    cell = "from convnet import callbacks, data\nprint(data.tqdm.__module__)"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))  # the kernel imports this convnet
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    expected = "tqdm.notebook" if tqdm.notebook.IProgress is not None else "tqdm.std"
    assert printed.strip() == expected
    assert "TqdmWarning" not in printed and "IProgress" not in printed, printed


def test_a_shell_derived_from_the_kernels_counts_as_a_notebook(monkeypatch):
    ipython = pytest.importorskip("IPython")

    class HostedShell(ZMQInteractiveShell):  # as a hosted notebook's own shell class
        pass

    monkeypatch.setattr(ipython, "get_ipython", HostedShell)
    assert progress.in_notebook_kernel()
