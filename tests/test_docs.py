"""The reading path stays true: every module of convnet says where it sits on it and names
docs chapters that exist, and the package docstring lists every module.

(The docs themselves are built by ``sphinx-build -W`` in CI; their ``>>>`` examples run as
doctests through ``--doctest-glob``.)"""

import ast
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(p for p in (ROOT / "convnet").rglob("*.py") if p.name != "__main__.py")


def _docstring(path):
    """The module's docstring with its line breaks folded into single spaces."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return " ".join(doc.split())


def _chapter_titles():
    """The first heading of every Markdown page in docs/, backticks dropped."""
    titles = []
    for page in (ROOT / "docs").glob("*.md"):
        heading = next(line for line in page.read_text(encoding="utf-8").splitlines()
                       if line.startswith("# "))  # fmt: skip
        titles.append(heading[2:].replace("`", "").strip())
    return titles


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("path", MODULES, ids=_module_name)
def test_every_module_says_where_it_sits_and_which_chapter_explains_it(path):
    doc = _docstring(path)
    assert "Reading order" in doc or "reading path" in doc or path.name == "__init__.py", (
        f"{_module_name(path)}: its docstring should say where it sits on the reading path"
    )
    # A chapter is named in quotes after "Docs chapter:" / "Docs chapters:"; each must be the
    # start of a page's title.
    titles = _chapter_titles()
    named = re.findall(r'Docs chapters?:\s*((?:"[^"]+"(?:\s*\([^)]*\))?(?:,\s*|\s+and\s+)?)+)',
                       doc)  # fmt: skip
    for group in named:
        for chapter in re.findall(r'"([^"]+)"', group):
            assert any(title.startswith(chapter) for title in titles), (
                f"{_module_name(path)} names the chapter {chapter!r}, which docs/ lacks; "
                f"the chapters are {sorted(titles)}"
            )


def test_modules_on_the_path_name_a_chapter():
    missing = [_module_name(p) for p in MODULES
               if "Reading order" in _docstring(p) and "Docs chapter" not in _docstring(p)
               and not p.name == "__init__.py"]  # fmt: skip
    assert missing == []


def test_the_package_docstring_lists_every_module():
    listed = _docstring(ROOT / "convnet" / "__init__.py")
    for path in MODULES:
        name = path.stem if path.name != "__init__.py" else path.parent.name
        if path.parent.name in ("ops", "tuned") and path.name != "__init__.py":
            continue  # the ops are listed together as "ops", the annex's modules as "tuned"
        assert f"``{name}``" in listed or name == "convnet", f"{name} is not in the reading order"


def test_every_figure_the_docs_show_is_drawn(tmp_path, monkeypatch):
    """``docs/figures.py`` (run by every Sphinx build) writes each ``_figures/*.png`` that a
    page of the docs shows, and nothing a page does not show."""
    monkeypatch.syspath_prepend(str(ROOT / "docs"))
    import figures

    shown = {name for page in (ROOT / "docs").glob("*.md")
             for name in re.findall(r"\]\(_figures/([\w.-]+\.png)\)", page.read_text("utf-8"))}
    drawn = {path.name for path in figures.main(tmp_path)}
    assert shown == drawn
    assert all((tmp_path / name).stat().st_size > 10_000 for name in drawn)  # real pictures


@pytest.mark.skipif(not os.environ.get("CONVNET_DATA_DIR"), reason="needs MNIST")
def test_the_pictures_of_what_the_network_sees_are_drawn_by_their_script(tmp_path, monkeypatch,
                                                                        short_sets):  # fmt: skip
    """``docs/seeing_figures.py`` draws, from a trained run, each ``seeing/*.png`` that
    docs/seeing.md shows (there from the seed-net's run; here from a seconds-long one)."""
    from convnet.cli import main as convnet_main

    monkeypatch.syspath_prepend(str(ROOT / "docs"))
    import seeing_figures

    run = tmp_path / "run"
    assert convnet_main(["train", "--net", "small", "--limit", "1000", "--epochs", "1",
                         "--out", str(run), "--verbose", "0", "--no-figures"]) == 0  # fmt: skip
    shown = set(re.findall(r"\(seeing/([\w.-]+\.png)\)|\{image\} seeing/([\w.-]+\.png)",
                           (ROOT / "docs" / "seeing.md").read_text("utf-8")))  # fmt: skip
    shown = {name for pair in shown for name in pair if name}
    drawn = {p.name for p in seeing_figures.main(run, tmp_path / "seeing", unhealthy_batches=12,
                                                 embedded=300)}  # fmt: skip
    assert shown == drawn
    assert shown == {p.name for p in (ROOT / "docs" / "seeing").glob("*.png")}  # all committed
    assert all((tmp_path / "seeing" / name).stat().st_size > 10_000 for name in drawn)


@pytest.mark.skipif(not os.environ.get("CONVNET_DATA_DIR"), reason="needs MNIST")
def test_the_pictures_of_augmentation_are_drawn_by_their_script(tmp_path, monkeypatch):
    """``docs/augment_figures.py`` draws each ``augment/*.png`` that a page shows, from MNIST
    and a seeded generator, and those are the ones committed."""
    monkeypatch.syspath_prepend(str(ROOT / "docs"))
    import augment_figures

    shown = {name for page in (ROOT / "docs").glob("*.md")
             for name in re.findall(r"\{image\} augment/([\w.-]+\.png)",
                                    page.read_text("utf-8"))}  # fmt: skip
    drawn = {p.name for p in augment_figures.main(tmp_path)}
    assert shown == drawn == {"affine.png", "turns.png"}
    assert drawn == {p.name for p in (ROOT / "docs" / "augment").glob("*.png")}  # all committed
    assert all((tmp_path / name).stat().st_size > 10_000 for name in drawn)
