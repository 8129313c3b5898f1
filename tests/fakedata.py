"""Small fake MNIST files, for the tests of finding, verifying, downloading and loading
datasets (tests/test_data.py, tests/test_datasets.py): files whose content a test knows, that
need no network and no copy of the real data; and a local HTTP server to download them from."""

import http.server
import threading
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


class MirrorServer:
    """An HTTP server on 127.0.0.1 in a thread. ``routes`` maps a URL path to an answer:

    ("ok", body), ("status", code), or ("drop", body): a Content-Length of the whole body but
    only its first half sent before the connection is closed.
    """

    def __init__(self):
        self.routes = {}
        self.requests = []
        routes, requests = self.routes, self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                kind, arg = routes.get(self.path, ("status", 404))
                if kind == "status":
                    self.send_error(arg)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(arg)))
                self.end_headers()
                if kind == "ok":
                    self.wfile.write(arg)
                else:
                    self.wfile.write(arg[: len(arg) // 2])
                    self.wfile.flush()
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def mirror(self, prefix, blobs, answers=None):
        """Serve ``blobs`` under /prefix/; ``answers`` overrides what some names get."""
        for name, blob in blobs.items():
            self.routes[f"/{prefix}/{name}"] = (answers or {}).get(name, ("ok", blob))
        return f"http://127.0.0.1:{self.port}/{prefix}/"

    def hits(self, prefix):
        return [path for path in self.requests if path.startswith(f"/{prefix}/")]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
