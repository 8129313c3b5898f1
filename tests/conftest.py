"""Shared test settings: Hypothesis profiles, a local server of fake dataset files, and a
small model trained on MNIST.

Pick one with the environment variable ``HYPOTHESIS_PROFILE``:

* ``default`` (when the variable is unset): 25 examples per property, random each run;
* ``ci``: the same 25 examples, but derandomized (the same examples every run, so a CI
  failure can be reproduced locally) and without the example database;
* ``thorough``: 500 examples per property, for a long run before a release.

Every profile sets ``deadline=None``: the first example of a property may spend seconds
compiling Numba kernels, and with ``NUMBA_DISABLE_JIT=1`` every example runs the kernels as
plain Python, so a per-example time limit would only produce false alarms.
"""

import contextlib
import os

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("default", max_examples=25, deadline=None)
settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True, database=None, print_blob=True
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# The tuned annex would measure its ways for every new shape (half a second or more each),
# and the property tests draw hundreds of shapes. Every way is checked against the core one
# by one (tests/test_tuned.py) and the measuring itself in tests/test_autotune.py, so the
# other tests take each piece of work's first way unmeasured.
os.environ.setdefault("CONVNET_AUTOTUNE", "0")

# For the same reason the convolutions run their generic kernels, not ones compiled again for
# each shape (seconds each; see convnet/tuned/conv.py). tests/test_tuned.py checks the
# compiled-for-the-sizes kernels against them for one layer.
os.environ.setdefault("CONVNET_SPECIALISE", "0")


#: Test and validation images kept by :func:`shortened_datasets`.
SHORT_SETS = 2000


@contextlib.contextmanager
def shortened_datasets(n=SHORT_SETS):
    """While inside, ``convnet.data`` gives the first ``n`` test images only (``load_data``)
    and the first ``n`` validation images of the split (``load_split``); the training set
    stays whole. ``train``'s picture of the features in two dimensions places 300 test
    images, not 1,000.

    For the tests of the command line, which check what a run does, writes and prints, not
    its accuracy: every pass over the full sets (12,000 validation images after every epoch,
    10,000 test images three times a run) costs seconds, most of a short run's time, and
    t-SNE's map of 1,000 images 5 to 9 seconds more.
    """
    from convnet import cli, data

    full_data, full_split = data.load_data, data.load_split

    def load_data(*args, **kwargs):
        train, (x_test, y_test) = full_data(*args, **kwargs)
        return train, (x_test[:n], y_test[:n])

    def load_split(*args, **kwargs):
        split = full_split(*args, **kwargs)
        return split._replace(x_val=split.x_val[:n], y_val=split.y_val[:n])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data, "load_data", load_data)
        patch.setattr(data, "load_split", load_split)
        patch.setattr(cli, "EMBEDDED", 300)
        yield n


@pytest.fixture
def short_sets():
    """:func:`shortened_datasets` for one test."""
    with shortened_datasets() as n:
        yield n


@pytest.fixture
def server():
    """An HTTP server on 127.0.0.1 serving fake dataset files (``fakedata.MirrorServer``)."""
    from fakedata import MirrorServer

    srv = MirrorServer()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def digit_model(tmp_path_factory):
    """A small CNN trained on real MNIST for this test session, and its saved ``mnist.h5``.

    ``convnet.nets.small_net`` (5,994 parameters), seeded, Adam, 3 epochs on the first 30,000
    training images: about 12 s on one core, and 96.8% on the first 2,000 test images.
    Skipped without MNIST.
    """
    if not os.environ.get("CONVNET_DATA_DIR"):
        pytest.skip("set CONVNET_DATA_DIR to the MNIST folder")
    from convnet.data import load_mnist, to_images
    from convnet.nets import small_net

    (x_train, y_train), _ = load_mnist()
    model = small_net(seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    n = 30_000
    model.fit(to_images(x_train[:n]), y_train[:n].astype(np.int64), epochs=3, batch_size=64,
              seed=0, verbose=0)  # fmt: skip
    path = tmp_path_factory.mktemp("digit_model") / "mnist.h5"
    model.save(path)
    return model, path
