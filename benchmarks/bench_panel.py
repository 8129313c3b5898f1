"""How long the drawing app's "See inside" panel takes to follow a stroke, in a real window.

Starts Xvfb, opens ``python -m convnet gui`` with the model, opens the panel (the I key),
draws a 0 and a 1 traced from MNIST test digits with xdotool, ``--rounds`` times, clearing
between them, and reads from the app's state file, per stroke, the time from the start of
the recognition to the panel drawn on the screen, and from the pen lifted to the same (which
adds the app's 150 ms pause before it recognises). Prints their medians and ranges with the
machine. Needs Xvfb and xdotool (Debian packages ``xvfb`` and ``xdotool``), the test suite's
helpers (``tests/``) and MNIST (``$CONVNET_DATA_DIR``).

Usage::

    python benchmarks/bench_panel.py                          # the newest runs/*/mnist.h5
    python benchmarks/bench_panel.py --model runs/small/mnist.h5 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from convnet.cli import machine_description, newest_model

TESTS = Path(__file__).resolve().parent.parent / "tests"


def summary(values) -> str:
    return f"median {statistics.median(values):.0f} ms, {min(values):.0f}-{max(values):.0f} ms"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="default: the newest runs/*/mnist.h5")
    parser.add_argument("--rounds", type=int, default=3, help="a 0 and a 1 each round")
    parser.add_argument("--json", default=None, help="also write the times here")
    args = parser.parse_args(argv)
    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        print("needs Xvfb and xdotool: apt-get install xvfb xdotool", file=sys.stderr)
        return 2
    model = args.model or newest_model()
    if model is None:
        print("no trained model: give --model, or train one first", file=sys.stderr)
        return 2
    sys.path.insert(0, str(TESTS))
    from test_gui import Window, redrawn_after_pen_up, xvfb
    from traced_digits import first_of, trace_one, trace_zero

    from convnet.data import load_mnist

    (_, _), (x_test, y_test) = load_mnist()
    with xvfb() as display, tempfile.TemporaryDirectory() as folder:
        window = Window(display, model, Path(folder) / "state.json")
        try:
            window.xdotool("key", "i")
            opened = window.wait_for(lambda s: s["inside"]["open"], "the panel to open")
            for stroke in range(2 * args.rounds):
                digit, trace = [(0, trace_zero), (1, trace_one)][stroke % 2]
                if stroke:
                    window.key("Escape")
                before = window.state()["inside"]
                window.draw(trace(first_of(digit, x_test, y_test)))
                shown = window.wait_for(redrawn_after_pen_up(str(digit), before),
                                        f"the panel to explain the {digit}")  # fmt: skip
        finally:
            window.close()
    panel_ms, pen_up_ms = shown["inside"]["panel_ms"], shown["inside"]["pen_up_ms"]
    layers = ", ".join(f"{name} {k} maps of {h}x{w}"
                       for name, (k, h, w, _) in opened["inside"]["layers"].items())  # fmt: skip
    print(f"{model}: {layers}; {len(panel_ms)} strokes on {machine_description()}")
    print(f"recognition start to panel drawn: {summary(panel_ms)}")
    print(f"pen lifted to panel drawn:        {summary(pen_up_ms)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"panel_ms": panel_ms, "pen_up_ms": pen_up_ms,
                                               "machine": machine_description()}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
