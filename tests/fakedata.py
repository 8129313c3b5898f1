"""Small fake MNIST files, for the tests of finding, verifying, downloading and loading MNIST
(tests/test_data.py): files whose content a test knows, that need no network and no copy of
the real MNIST."""

from pathlib import Path

import numpy as np

from convnet.data import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS
from convnet.idx import payload_sha256, write_idx


def write_fake_mnist(folder, *, n_train=60, n_test=20, seed=0, compress=True):
    """Write four small random files under MNIST's names, for testing the pipeline offline.

    Images are uniform noise, labels cycle through 0..9 in a shuffled order. Pass the returned
    table as ``checksums=`` to :func:`convnet.data.load_mnist`, since the real checksums will
    not match.

    Parameters
    ----------
    folder : str or os.PathLike
        Created if needed.
    n_train, n_test : int
        Number of images in each set (shapes (n, 28, 28) and (n,)).
    seed : int
        Seed of the ``numpy.random.Generator`` that draws them.
    compress : bool
        Write ``name.gz`` files; else the uncompressed names, without ``.gz``.

    Returns
    -------
    checksums : dict
        ``{file name: SHA-256 hex}`` of the decompressed files, keyed by the names in
        :data:`convnet.data.FILES`.

    Examples
    --------
    >>> import os, tempfile
    >>> from convnet.data import FILES
    >>> tmp = tempfile.TemporaryDirectory(); folder = tmp.name
    >>> sorted(write_fake_mnist(folder, compress=False)) == sorted(FILES)
    True
    >>> sorted(os.listdir(folder))[0]
    't10k-images-idx3-ubyte'
    >>> tmp.cleanup()
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for images_name, labels_name, n in (
        (TRAIN_IMAGES, TRAIN_LABELS, n_train),
        (TEST_IMAGES, TEST_LABELS, n_test),
    ):
        arrays[images_name] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        arrays[labels_name] = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    checksums = {}
    for name, array in arrays.items():
        path = folder / (name if compress else name.removesuffix(".gz"))
        write_idx(path, array, compress=compress)
        checksums[name] = payload_sha256(path)
    return checksums
