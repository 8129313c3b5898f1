"""The package's import graph has no cycle, so that it can be read bottom up.

Every ``import`` in ``convnet/`` counts, those inside functions (imported lazily, when first
called) as much as those at the top of a module: a lazy import only hides a cycle, it does not
remove it. Imports under ``if TYPE_CHECKING:`` do not count (they never run). Importing
``convnet.a.b`` runs the package ``convnet/__init__.py`` first, but that implicit import of a
parent package is not an edge; ``from convnet import __version__`` is one, since it needs the
package's own code.
"""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "convnet"


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test):
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node):
    """Every Import and ImportFrom below ``node``, at any depth, skipping TYPE_CHECKING blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _import_nodes(ast.Module(body=[other], type_ignores=[]))
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        yield from _import_nodes(child)


def imported_modules(source, name, modules, *, is_package=False):
    """The modules among ``modules`` that the code ``source`` of module ``name`` imports.

    ``from package import x`` imports the module ``package.x`` if there is one, else the
    package itself (``x`` is a name defined in it).

    Examples
    --------
    >>> code = '''
    ... from typing import TYPE_CHECKING
    ... from convnet import ops, __version__
    ... if TYPE_CHECKING:
    ...     from convnet.model import Sequential
    ... def save():
    ...     from .io import save_model
    ... '''
    >>> sorted(imported_modules(code, "convnet.layers",
    ...                         {"convnet", "convnet.ops", "convnet.io", "convnet.model"}))
    ['convnet', 'convnet.io', 'convnet.ops']
    """
    package = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in _import_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:  # relative: from . import x, from .io import y
                anchor = package[: len(package) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t if t in modules else base for t in targets]
        for target in targets:
            while target and target not in modules:  # import convnet.ops.conv.x -> the module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph():
    """``{module: the convnet modules it imports}`` for every module under ``convnet/``."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {
        name: imported_modules(path.read_text(encoding="utf-8"), name, modules,
                               is_package=path.name == "__init__.py")
        for name, path in paths.items()
    }


def _reachable(graph, start):
    seen, todo = set(), list(graph[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    return seen


def import_cycles(graph):
    """Each group of modules that import one another (directly or not), sorted, with one
    cycle through it: a list ``[a, b, ..., a]`` in which each module imports the next.

    Examples
    --------
    >>> import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()})
    [(['a', 'b', 'c'], ['a', 'b', 'c', 'a'])]
    """
    reach = {module: _reachable(graph, module) for module in graph}
    groups = {frozenset(m for m in reach[module] if module in reach[m])
              for module in graph if module in reach[module]}  # fmt: skip
    cycles = []
    for group in sorted(groups, key=sorted):
        try:  # sorted, so that the same cycle is found every time
            TopologicalSorter({m: sorted(graph[m] & group) for m in sorted(group)}).prepare()
        except CycleError as err:
            # graphlib lists each module before the one that imports it: reverse the list,
            # and start it at the first module in alphabetical order.
            ring = list(reversed(err.args[1]))[:-1]
            first = ring.index(min(ring))
            ring = ring[first:] + ring[:first]
            cycles.append((sorted(group), ring + ring[:1]))
    return cycles


def test_the_graph_sees_top_level_and_lazy_imports():
    graph = import_graph()
    assert "convnet.ops" in graph["convnet.layers"]  # from convnet import initializers, ops
    assert "convnet.layers" in graph["convnet.model"]  # top of the module
    assert "convnet.callbacks" in graph["convnet.model"]  # inside Sequential.fit
    assert "convnet.ops.conv" in graph["convnet.ops"]  # the subpackage's own __init__


def test_no_import_cycles():
    cycles = import_cycles(import_graph())
    assert not cycles, "\n".join(
        f"{', '.join(group)} import one another; one cycle: {' -> '.join(cycle)}"
        for group, cycle in cycles
    )


def test_the_oracles_stay_in_the_tests():
    """PyTorch and Keras compute the answers the oracle tests compare with; the package itself
    imports neither, anywhere (lazily included)."""
    oracles = {"torch", "keras", "tensorflow"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""]  # fmt: skip
            found += [f"{path.relative_to(ROOT)}: {name}" for name in names
                      if name.split(".")[0] in oracles]  # fmt: skip
    assert not found, "the package imports an oracle framework:\n" + "\n".join(found)
