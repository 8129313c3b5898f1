"""The speed ladder's seam (convnet/backend.py): choosing a rung, and the core running
without ever importing the tuned annex."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from convnet import Sequential
from convnet import backend as backends
from convnet import layers as L


def test_the_argument_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("CONVNET_BACKEND", "naive")
    assert backends.resolve() == "naive"
    assert backends.resolve("fast") == "fast"
    monkeypatch.delenv("CONVNET_BACKEND")
    assert backends.resolve() == backends.DEFAULT == "tuned"


def test_a_bad_name_is_refused_saying_where_it_came_from(monkeypatch):
    monkeypatch.setenv("CONVNET_BACKEND", "turbo")
    with pytest.raises(ValueError, match=r"CONVNET_BACKEND must be one of 'naive', 'fast', "
                                         r"'tuned', got 'turbo'"):  # fmt: skip
        Sequential([L.Dense(2)], input_shape=(3,))
    with pytest.raises(ValueError, match=r"^backend must be one of .* got 'quick'"):
        L.Dense(2, backend="quick")


@pytest.mark.parametrize("rung", ["naive", "fast"])
def test_on_the_core_rungs_the_steps_are_the_layers(rung):
    model = Sequential([L.Dense(3), L.Dense(2)], input_shape=(4,), backend=rung)
    assert model._steps == model.layers
    assert all(layer.backend == rung for layer in model.layers)


def test_a_layer_keeps_its_own_rung_inside_a_model():
    model = Sequential([L.Dense(3, backend="naive"), L.Dense(2)], input_shape=(4,),
                       backend="fast")  # fmt: skip
    assert [layer.backend for layer in model.layers] == ["naive", "fast"]


def test_the_fast_rung_never_imports_the_annex():
    # In a fresh interpreter: train, evaluate, predict one image and a batch, save and load.
    script = textwrap.dedent("""
        import sys, tempfile, os
        import numpy as np
        import convnet
        from convnet.nets import seed_net, small_net
        rng = np.random.default_rng(0)
        for net in (seed_net, small_net):
            model = net(seed=0)
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            x, y = rng.random((6, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 6)
            model.fit(x, y, epochs=1, batch_size=3, verbose=0, validation_data=(x, y))
            model.predict(x[:1]), model.predict(x), model.evaluate(x, y)
            path = os.path.join(tempfile.mkdtemp(), "m.h5")
            model.save(path)
            convnet.load_model(path).predict(x[:2])
        annex = sorted(m for m in sys.modules if m.startswith("convnet.tuned"))
        print(annex)
        assert not annex, annex
    """)
    env = {**os.environ, "CONVNET_BACKEND": "fast"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "[]"


def test_without_the_annex_the_tuned_rung_runs_the_layers(monkeypatch):
    import convnet

    monkeypatch.setitem(sys.modules, "convnet.tuned", None)  # import convnet.tuned now fails
    monkeypatch.delattr(convnet, "tuned", raising=False)
    model = Sequential([L.Dense(3)], input_shape=(4,), backend="tuned")
    assert model._steps == model.layers
    assert model.predict(np.ones((2, 4), np.float32)).shape == (2, 3)
