"""examples/custom_loop.py: the hand-written training loop learns, on 500 MNIST images."""

import os
import re

import pytest
from scripts import load_script

pytestmark = pytest.mark.skipif(
    not os.environ.get("CONVNET_DATA_DIR"), reason="set CONVNET_DATA_DIR to the MNIST folder"
)


@pytest.fixture(scope="module")
def custom_loop():
    return load_script("examples/custom_loop.py")


def test_the_loop_lowers_the_loss_on_a_small_subset(custom_loop, capsys):
    assert custom_loop.main(["--limit", "500", "--epochs", "1", "--every", "4"]) == 0
    out = capsys.readouterr().out
    # 500 images in batches of 32: 16 batches, a mean loss printed after every 4
    steps = re.findall(r"^epoch 1, batch (\d+)/16: loss (\d+\.\d+)$", out, re.M)
    assert [int(step) for step, _ in steps] == [4, 8, 12, 16]
    losses = [float(loss) for _, loss in steps]
    assert 2.0 < losses[0] < 2.6  # about ln 10 = 2.30 before the network knows anything
    assert losses[-1] < losses[0] - 0.05
    assert re.search(r"^test loss \d+\.\d+, test accuracy 0\.\d+$", out, re.M)


@pytest.mark.parametrize("option", ["--every", "--batch-size", "--limit", "--epochs"])
def test_counts_below_one_are_refused(custom_loop, option, capsys):
    with pytest.raises(SystemExit) as stop:
        custom_loop.parse_args([option, "0"])
    assert stop.value.code == 2
    assert f"argument {option}: must be 1 or more, got 0" in capsys.readouterr().err
