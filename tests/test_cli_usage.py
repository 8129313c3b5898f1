"""The command line without MNIST: its help, its names, which model it picks, and how
``predict`` copes with files that are not pictures of a digit."""

import configparser
import os
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import convnet
from convnet.cli import RUN_DEFAULTS, build_parser, main, newest_model

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["train", "evaluate", "predict", "gui"]


def option_entries(help_text):
    """The entries of the "options:" part of a help text, one string per option."""
    entries, inside = [], False
    for line in help_text.splitlines():
        if line.endswith(":") and not line.startswith(" "):  # a section header
            inside = line == "options:"
        elif inside and line.startswith("  -"):
            entries.append(line.strip())
        elif inside and line.strip() and entries:
            entries[-1] += " " + line.strip()
    return entries


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_the_default_of_every_option(command):
    entries = option_entries(build_parser("convnet", command=command).format_help())
    assert len(entries) >= 2
    for entry in entries:
        if not entry.startswith("-h, --help"):
            assert "(default: " in entry, entry
            assert "(default: None)" not in entry, entry


def test_the_help_of_train_shows_the_real_defaults_of_the_run_options():
    # The parser's defaults are None, so that --resume can tell which options were given.
    parser = build_parser("convnet", command="train")
    assert parser.parse_args([]).epochs is None
    text = " ".join(parser.format_help().split())
    for key, value in RUN_DEFAULTS.items():
        option = "--" + key.replace("_", "-")
        entry = next(e for e in option_entries(parser.format_help()) if e.startswith(option))
        assert "(default: " in entry
        if value is not None:
            assert f"(default: {value})" in entry, entry
    assert "(default: 12)" in text and "(default: adam)" in text


def test_no_help_text_has_restructuredtext_markup():
    texts = [build_parser("convnet").format_help()]
    texts += [build_parser("convnet", command=c).format_help() for c in COMMANDS]
    for text in texts:
        assert "`" not in text, text


@pytest.mark.parametrize("options, chosen", [
    ([], "random_shift 1"),  # the default: whole pixels, as before --rotate and --zoom
    (["--shift", "2"], "random_shift 2"),
    (["--shift", "2.0"], "random_shift 2"),
    (["--shift", "0"], "None"),
    (["--shift", "0", "--rotate", "0", "--zoom", "0"], "None"),
    (["--shift", "1.5"], "RandomAffine(rotation=0.0, zoom=0.0, shift=1.5)"),
    (["--rotate", "10"], "RandomAffine(rotation=10.0, zoom=0.0, shift=1.0)"),
    (["--shift", "0", "--zoom", "0.15"], "RandomAffine(rotation=0.0, zoom=0.15, shift=0.0)"),
    (["--rotate", "7.5", "--zoom", "0.1", "--shift", "2"],
     "RandomAffine(rotation=7.5, zoom=0.1, shift=2.0)"),
])  # fmt: skip
def test_shift_rotate_and_zoom_choose_the_augmenter(options, chosen):
    from convnet.cli import augmenter, run_settings

    settings = run_settings(build_parser("convnet", command="train").parse_args(options))
    augment = augmenter(settings["shift"], settings["rotate"], settings["zoom"])
    if hasattr(augment, "keywords"):  # functools.partial(random_shift, max_shift=...)
        described = f"{augment.func.__name__} {augment.keywords['max_shift']}"
    else:
        described = repr(augment)
    assert described == chosen


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"], prog="convnet")
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"convnet {convnet.__version__}"


def run(args, cwd=None, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd or ROOT, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_usage_names_the_program_as_it_was_started():
    assert build_parser("convnet").format_usage().startswith("usage: convnet [-h] [--version]")
    forwarded = build_parser("python examples/gui.py", command="gui")
    assert forwarded.format_usage().startswith("usage: python examples/gui.py [-h] [--model")
    started = run(["-m", "convnet", "predict"])
    assert started.returncode == 2
    assert started.stderr.startswith("usage: python -m convnet predict [-h] [--model MODEL]")
    # A script that forwards to one command is named alone, without the command.
    started = run(["examples/train_mnist.py", "--no-such-option"])
    assert started.returncode == 2
    assert started.stderr.startswith("usage: python examples/train_mnist.py [-h] [--epochs")
    assert "unrecognized arguments: --no-such-option" in started.stderr


def test_the_distribution_and_its_console_command():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    # "convnet" on PyPI is another package: the distribution has a name of its own.
    assert cfg["metadata"]["name"] == "convnet-numpy"
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    scripts = dict(line.replace(" ", "").split("=") for line in lines)
    command = EntryPoint(name="convnet", value=scripts["convnet"], group="console_scripts")
    assert command.load() is main
    # The console command's prog comes from its name, sys.argv[0]: "convnet".
    assert build_parser().prog == Path(sys.argv[0]).name


def touch_model(path, mtime):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    os.utime(path, (mtime, mtime))
    return path


def test_the_newest_trained_model_is_used_then_a_loose_mnist_h5(tmp_path):
    loose = touch_model(tmp_path / "mnist.h5", 3_000)
    assert newest_model(tmp_path) == loose  # no runs yet: where runs used to go
    touch_model(tmp_path / "runs" / "seed" / "mnist.h5", 1_000)
    newer = touch_model(tmp_path / "runs" / "small" / "mnist.h5", 2_000)
    touch_model(tmp_path / "runs" / "small" / "checkpoint.h5", 9_000)  # not a model
    assert newest_model(tmp_path) == newer  # any run beats the loose file, however recent


@pytest.mark.parametrize("command", [["evaluate"], ["predict", "digit.png"]])
def test_no_trained_model_says_how_to_train_one(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no trained model") and err.count("\n") == 1
    assert "python -m convnet train" in err and "--model" in err


def test_the_app_without_a_model_says_so_before_opening(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    started = subprocess.run([sys.executable, "-m", "convnet", "gui"], cwd=tmp_path,
                             env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert "no trained model" in started.stderr and "python -m convnet train" in started.stderr
    assert started.returncode == 2 and "needs a graphical display" in started.stderr


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """A small CNN saved untrained: its answers mean nothing, but every file gets one."""
    from convnet.nets import small_net

    folder = tmp_path_factory.mktemp("untrained")
    (folder / "runs" / "small").mkdir(parents=True)
    small_net(seed=0).save(folder / "runs" / "small" / "mnist.h5")
    return folder


def digit_page():
    page = np.full((120, 120), 255, np.uint8)
    page[20:100, 55:65] = 0  # a dark "1" on white
    return page


def test_predict_uses_the_newest_model_and_says_which(untrained, monkeypatch, capsys):
    monkeypatch.chdir(untrained)
    Image.fromarray(digit_page()).save("one.png")
    assert main(["predict", "one.png"]) == 0
    out, err = capsys.readouterr()
    said = f"Model: {Path('runs', 'small', 'mnist.h5')} (the newest trained; --model picks another)"
    assert said in err.splitlines()
    assert out.startswith("one.png: ") and out.count("\n") == 1


def test_predict_answers_every_readable_picture_and_reports_each_other_one(untrained, tmp_path,
                                                                           capsys):  # fmt: skip
    good = {"one.png": digit_page(), "one16.png": digit_page().astype(np.uint16) * 257}
    for name, levels in good.items():
        Image.fromarray(levels).save(tmp_path / name)
    rgba = np.zeros((120, 120, 4), np.uint8)
    rgba[20:100, 55:65, 3] = 255  # opaque black ink on transparent black
    Image.fromarray(rgba).save(tmp_path / "sheet.png")
    good["sheet.png"] = rgba
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("a seven, drawn later\n")
    Image.new("L", (120, 120), 255).save(tmp_path / "blank.png")  # paper, no ink
    bad = ["empty.png", "notes.txt", "missing.png", "blank.png"]
    order = ["empty.png", "one.png", "notes.txt", "one16.png", "missing.png", "blank.png",
             "sheet.png"]  # fmt: skip
    model = str(untrained / "runs" / "small" / "mnist.h5")
    assert main(["predict", *(str(tmp_path / n) for n in order), "--model", model]) == 1
    out, err = capsys.readouterr()
    answers = out.splitlines()
    errors = [line for line in err.splitlines() if "Numba" not in line]  # compiling, once
    assert [line.split(": ")[0] for line in answers] == [str(tmp_path / n) for n in good]
    assert all(line.split(": ")[1][0].isdigit() for line in answers)
    digits = [line.split(": ")[1] for line in answers]
    assert digits[0] == digits[1] == digits[2]  # 16 bits, a transparent sheet: the same "1"
    assert len(errors) == len(bad) and "Traceback" not in err
    for name, line in zip(bad, errors, strict=True):
        assert line.startswith(f"error: {tmp_path / name}: "), line
    assert "not an image" in errors[0] and "not an image" in errors[1]
    assert "No such file" in errors[2] and "no ink" in errors[3]
    # The readable ones alone: no failure, exit status 0.
    assert main(["predict", *(str(tmp_path / n) for n in good), "--model", model]) == 0
