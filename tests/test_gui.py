"""The drawing app end to end, in a real X server (Xvfb) with real pointer and key events.

The test starts Xvfb on a free display, opens ``python -m convnet gui`` there, draws a 1 and
a 0 traced from MNIST test digits with xdotool (pointer down, moves, up), presses the
shortcuts, and reads what the window shows from the file the app writes with
``--state-file`` (the texts of its answer and status labels). Another opens the "See
inside" panel, checks that it follows the drawing and prints how long it takes to redraw.
Screenshots of the X screen go to ``tests/artifacts/`` (ignored by git), whose path the
test prints.

Needs the Debian packages xvfb and xdotool (``.ci/run`` installs them); skipped without.
"""

import contextlib
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from traced_digits import SCALE, first_of, trace_one, trace_zero

ARTIFACTS = Path(__file__).parent / "artifacts"
TITLE = "convnet: draw a digit"

needs_x = pytest.mark.skipif(
    not (shutil.which("Xvfb") and shutil.which("xdotool")),
    reason="needs Xvfb and xdotool: apt-get install xvfb xdotool (.ci/run installs them)",
)


@contextlib.contextmanager
def xvfb():
    """A fresh Xvfb server, as its display name (":N"), stopped on leaving; Xvfb picks a free
    display number and writes it to a pipe. (``benchmarks/bench_panel.py`` uses it too.)"""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    os.close(write_end)
    # Xvfb writes the number and then "\n" in a second write, and dies if that one fails:
    # read up to the newline before closing the pipe.
    received, deadline = b"", time.monotonic() + 30
    while b"\n" not in received and time.monotonic() < deadline:
        ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(read_end, 64) if ready else b""
        if not chunk:
            break
        received += chunk
    number = received.decode().strip()
    os.close(read_end)
    if not number:
        server.kill()
        pytest.fail(f"Xvfb did not start: {server.communicate()[1].decode()[-2000:]}")
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def display():
    with xvfb() as name:
        yield name


class Window:
    """The app running on ``display``, driven with xdotool, read through its state file."""

    def __init__(self, display, model, state_file):
        self.display, self.state_file = display, Path(state_file)
        self.env = {**os.environ, "DISPLAY": display}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "convnet", "gui", "--model", str(model),
             "--state-file", str(state_file)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.wait_for(lambda s: s["canvas"]["side"] > 100, "the window to appear")

    def state(self):
        try:
            return json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def wait_for(self, condition, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the app exited ({self.process.returncode}) waiting for {what}:\n"
                            f"{self.process.stderr.read()}")  # fmt: skip
            state = self.state()
            if state is not None and condition(state):
                return state
            time.sleep(0.05)
        pytest.fail(f"timed out waiting for {what}; last state: {self.state()}")

    def xdotool(self, *args):
        subprocess.run(["xdotool", *map(str, args)], env=self.env, check=True, timeout=60)

    def draw(self, strokes):
        """Press, move and release the pointer along ``strokes`` (raster coordinates)."""
        canvas = self.state()["canvas"]
        s = canvas["side"] / (28 * SCALE)

        def screen(point):
            return round(canvas["x"] + point[0] * s), round(canvas["y"] + point[1] * s)

        for stroke in strokes:
            args = ["mousemove", *screen(stroke[0]), "mousedown", 1]
            for point in stroke[1:]:
                args += ["sleep", 0.01, "mousemove", *screen(point)]
            self.xdotool(*args, "mouseup", 1)

    def key(self, name):
        """Press a key and wait until the window has acted on it.

        X delivers events in order, so the key's recognition sees every stroke drawn before.
        """
        before = self.state()["recognitions"]
        self.xdotool("key", name)
        return self.wait_for(lambda s: s["recognitions"] > before and s["trigger"] == "key",
                             f"the {name} key to act")  # fmt: skip

    def screenshot(self, name):
        from PIL import ImageGrab

        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        ImageGrab.grab(xdisplay=self.display).save(path)
        print(f"screenshot: {path}")
        return path

    def close(self):
        self.process.terminate()
        _, err = self.process.communicate(timeout=10)
        return err


@needs_x
def test_drawing_a_1_and_a_0_in_a_real_window(display, digit_model, tmp_path):
    from convnet.data import load_mnist

    _, model = digit_model
    (_, _), (x_test, y_test) = load_mnist()
    window = Window(display, model, tmp_path / "state.json")
    try:
        assert window.state()["status"] == "draw a digit" and window.state()["answer"] == ""

        window.draw(trace_one(first_of(1, x_test, y_test)))
        # Recognition runs by itself a moment after the pen stops (on a busy machine, maybe
        # also during the stroke: wait for the answer the whole stroke gets)...
        shown = window.wait_for(lambda s: s["trigger"] == "pause" and s["answer"] == "1",
                                "the answer 1 after the pen stops")  # fmt: skip
        assert shown["status"].endswith("% sure") and shown["strokes"] == 1
        assert max(shown["probabilities"]) == shown["probabilities"][1]
        # ... and again on Enter, with the same answer.
        assert window.key("Return")["answer"] == "1"
        assert window.screenshot("gui-1.png").stat().st_size > 0

        cleared = window.key("Escape")
        assert (cleared["answer"], cleared["status"], cleared["strokes"]) == ("", "draw a digit", 0)

        window.draw(trace_zero(first_of(0, x_test, y_test)))
        assert window.key("space")["answer"] == "0"
        assert window.screenshot("gui-0.png").stat().st_size > 0

        # A bigger window gives a bigger canvas; the drawing scales with it.
        side = window.state()["canvas"]["side"]
        window.xdotool("search", "--name", TITLE, "windowsize", 1000, 760)
        bigger = window.wait_for(lambda s: s["canvas"]["side"] > side + 100, "a bigger canvas")
        assert bigger["strokes"] == 1
        assert window.key("Return")["answer"] == "0"
        window.screenshot("gui-0-resized.png")
    finally:
        err = window.close()
    assert "Traceback" not in err, err


@needs_x
def test_a_missing_model_is_a_message_in_the_window(display, tmp_path):
    window = Window(display, tmp_path / "mnist.h5", tmp_path / "state.json")
    try:
        window.draw([[(140, 40), (140, 240)]])
        shown = window.key("Return")
        assert shown["answer"] == "" and shown["strokes"] == 1
        assert "no model file" in shown["status"]
        assert "python examples/train_mnist.py" in shown["status"]
        window.screenshot("gui-no-model.png")
    finally:
        err = window.close()
    assert "Traceback" not in err, err


def test_without_a_display_the_app_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    run = subprocess.run([sys.executable, "-m", "convnet", "gui", "--model", "none.h5"],
                         env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 2
    assert "needs a graphical display" in run.stderr and "Traceback" not in run.stderr


@needs_x
def test_a_model_with_class_names_shows_them(display, tmp_path):
    """A model trained on Fashion-MNIST names its answer and its bars with the dataset's
    classes. (An untrained small CNN with those names: what it answers does not matter here.)"""
    from convnet.data import FASHION_MNIST
    from convnet.nets import small_net

    model = small_net(seed=0)
    model.class_names = FASHION_MNIST.class_names
    model.save(tmp_path / "fashion.h5")
    window = Window(display, tmp_path / "fashion.h5", tmp_path / "state.json")
    try:
        assert window.state()["class_names"] == list(FASHION_MNIST.class_names)
        window.draw([[(60, 60), (220, 60), (220, 220), (60, 220), (60, 60)]])
        shown = window.key("Return")
        best = max(range(10), key=lambda k: shown["probabilities"][k])
        assert shown["answer"] == FASHION_MNIST.class_names[best]
        window.screenshot("gui-fashion.png")
    finally:
        err = window.close()
    assert "Traceback" not in err, err


def redrawn_after_pen_up(answer, before):
    """A condition on the state: the panel redrawn after the pen was lifted, for ``answer``."""
    return lambda s: (len(s["inside"]["pen_up_ms"]) > len(before["pen_up_ms"])
                      and s["answer"] == answer)  # fmt: skip


@needs_x
def test_the_see_inside_panel_follows_the_drawing(display, digit_model, tmp_path):
    """The I key opens the panel; every recognition redraws it for the answer, and how long
    that took is in the state; the button closes it. Prints the times, and a screenshot."""
    from convnet.data import load_mnist

    _, model = digit_model
    (_, _), (x_test, y_test) = load_mnist()
    window = Window(display, model, tmp_path / "state.json")
    try:
        start = window.state()
        assert start["inside"]["open"] is False and start["inside"]["updates"] == 0
        narrow = start["window"]["width"]

        window.xdotool("key", "i")
        opened = window.wait_for(lambda s: s["inside"]["open"], "the I key to open the panel")
        inside = opened["inside"]
        assert inside["layers"] == {"conv2d": [8, 24, 24, 3], "conv2d_1": [16, 8, 8, 6]}
        assert inside["updates"] == 1 and inside["explained"] is None  # nothing drawn yet
        # The window, panel open, fits a 1024x768 screen, the panel inside it.
        width, height = opened["window"]["width"], opened["window"]["height"]
        panel = inside["panel"]
        assert narrow < width <= 1024 and height <= 768, opened["window"]
        assert panel["x"] + panel["width"] <= width and panel["y"] + panel["height"] <= height

        checksums, strokes = set(), 0
        for digit, trace in [(0, trace_zero), (1, trace_one)] * 2:
            if strokes:
                assert window.key("Escape")["inside"]["explained"] is None
            before = window.state()["inside"]
            window.draw(trace(first_of(digit, x_test, y_test)))
            strokes += 1
            # The recognition after the pen is lifted (there may be some during the stroke).
            shown = window.wait_for(redrawn_after_pen_up(str(digit), before),
                                    f"the panel to explain the {digit}")  # fmt: skip
            inside = shown["inside"]
            assert inside["updates"] > before["updates"] and inside["explained"] == str(digit)
            assert inside["checksum"] != before["checksum"]
            checksums.add(inside["checksum"])
            if strokes == 1:
                window.screenshot("gui-inside.png")
        assert len(checksums) >= 2  # a 0 and a 1 look different inside
        panel_ms, pen_up_ms = inside["panel_ms"], inside["pen_up_ms"]
        assert len(pen_up_ms) >= strokes and all(ms > 0 for ms in panel_ms)
        # From the pen lifted, the panel waits for the pause (150 ms), then is redrawn.
        assert all(ms >= 150 for ms in pen_up_ms)
        print(f"recognition to panel on screen, ms: {panel_ms} "
              f"(median {statistics.median(panel_ms):.0f})")  # fmt: skip
        print(f"pen lifted to panel on screen, ms: {pen_up_ms} "
              f"(median {statistics.median(pen_up_ms):.0f})")  # fmt: skip

        # The button closes it; recognitions then leave it alone; the window narrows again.
        button = inside["button"]
        window.xdotool("mousemove", button["x"] + button["width"] // 2,
                       button["y"] + button["height"] // 2, "click", 1)  # fmt: skip
        closed = window.wait_for(lambda s: not s["inside"]["open"], "the button to close it")
        assert closed["inside"]["panel"] is None
        assert window.key("Return")["inside"]["updates"] == closed["inside"]["updates"]
        window.wait_for(lambda s: s["window"]["width"] < width, "the window to narrow")
        window.screenshot("gui-inside-closed.png")
    finally:
        err = window.close()
    assert "Traceback" not in err, err
