"""examples/gradcheck_tour.py: it checks every kind of layer, every error it prints is under
its bound, and a wrong backward pass would show up in its table as a BUG."""

import numpy as np
import pytest
from scripts import load_script

from convnet import layers as L


@pytest.fixture(scope="module")
def tour():
    return load_script("examples/gradcheck_tour.py")


def test_the_tour_covers_every_layer_class(tour):
    classes = {obj for obj in map(vars(L).get, L.__all__)
               if isinstance(obj, type) and obj is not L.Layer}  # fmt: skip
    toured = {type(layer) for _, layer, _ in tour.layer_cases("fast")}
    assert classes - toured == set()


TOUR_GRADIENTS = 36 + 16


@pytest.mark.parametrize("backend", ["naive", "fast", "tuned"])
def test_every_gradient_of_the_tour_is_within_its_bound(tour, backend):
    results = tour.tour(backend)
    rows = [(what, name, err, bound) for what, report, bound in results
            for name, _, err in report.rows]  # fmt: skip
    # 36 for the classic layers and the model, and 16 for BatchNormalization (dx, dgamma,
    # dbeta, twice), GlobalAveragePooling2D (dx) and the Residual block (dx and 8 parameters)
    assert len(rows) == TOUR_GRADIENTS
    for what, name, err, bound in rows:
        assert 0 <= err <= bound, (what, name, err)
    # The whole model is held to the looser bound; every single layer to the tight one.
    assert [bound for *_, bound in results].count(tour.MODEL_BOUND) == 1


def test_the_table_flags_a_wrong_gradient(tour, monkeypatch, capsys):
    # Break Dense's bias gradient: the tour must say BUG for it and fail.
    original = L.Dense._backward

    def doubled_bias(self, dout):
        dx = original(self, dout)
        self.grads["bias"] = 2 * self.grads["bias"]
        return dx

    monkeypatch.setattr(L.Dense, "_backward", doubled_bias)
    assert tour.main([]) == 1
    lines = capsys.readouterr().out.splitlines()
    bugs = [line for line in lines if line.rstrip().endswith("BUG")]
    assert bugs and all("bias" in line for line in bugs)
    assert not any(line.rstrip().endswith("BUG") and "dkernel" in line for line in lines)


def test_the_tour_prints_every_error_next_to_its_bound(tour, capsys):
    assert tour.main([]) == 0
    out = capsys.readouterr().out
    assert "≤ 1e-07" in out and "≤ 1e-06" in out
    # each row ends "<rel. error>  ≤ <bound>  ok"
    rows = [line.split()[-4:] for line in out.splitlines() if line.endswith("  ok")]
    assert len(rows) == TOUR_GRADIENTS
    errors, bounds = (np.array([float(row[i]) for row in rows]) for i in (0, 2))
    assert np.all(errors <= bounds) and set(bounds) == {1e-7, 1e-6}
