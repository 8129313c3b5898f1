"""Load one of the repository's scripts (an example, a benchmark) as a module, so that a
test can call its functions: ``load_script("examples/custom_loop.py").main([...])``."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_script(relative_path: str):
    path = ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
