"""Train on MNIST with a training loop written out by hand, as a PyTorch user would.

    python examples/custom_loop.py                          # the small CNN, 2 epochs
    python examples/custom_loop.py --limit 500 --epochs 1   # a few seconds
    python examples/custom_loop.py --net seed               # the notebook's CNN

``Sequential.fit`` runs this loop for you, with validation, callbacks and progress bars.
Here every step is on the page. Side by side with the PyTorch loop it replaces::

    PyTorch                                  convnet
    for x, y in loader:                      for idx in batches:
        optimizer.zero_grad()                    (nothing: backward overwrites the gradients)
        loss = criterion(model(x), y)            loss, logits = model.loss_and_gradients(x, y)
        loss.backward()                          (done by loss_and_gradients)
        optimizer.step()                         model.optimizer.step(model.parameters(),
                                                                      model.gradients())

``loss_and_gradients`` runs the forward pass in training mode (dropout on), the loss, and the
backward pass, which leaves each layer's gradients in ``layer.grads``; ``model.parameters()``
and ``model.gradients()`` name the same arrays ``dense/kernel``, ``dense/bias``, ... and
``step`` updates the parameters in place. These are the lines of
``Sequential.train_on_batch``, the step that ``fit`` takes.

MNIST is read from --data-dir, else $CONVNET_DATA_DIR, else the user cache (downloaded there
if missing). The script prints the mean training loss every --every batches, then the test
accuracy.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from convnet.data import load_mnist, to_images
from convnet.nets import seed_net, small_net


def at_least_one(text):
    """An argparse type: a whole number of 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        "--net",
        choices=["small", "seed"],
        default="small",
        help="the small CNN (6k parameters) or the notebook's (1.2M)",
    )
    parser.add_argument("--epochs", type=at_least_one, default=2, help="passes over the data")
    parser.add_argument("--batch-size", type=at_least_one, default=32, help="images per step")
    parser.add_argument(
        "--limit", type=at_least_one, default=None, help="train on the first N training images"
    )
    parser.add_argument(
        "--every", type=at_least_one, default=100,
        help="print the mean loss of every this many batches",
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and the order")
    parser.add_argument("--data-dir", default=None, help="folder with the four MNIST files")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    (x_train, y_train), (x_test, y_test) = load_mnist(args.data_dir)
    x = to_images(x_train[: args.limit])  # (N, 1, 28, 28) float32 in [0, 1]
    y = y_train[: args.limit].astype(np.int64)  # (N,) classes 0..9

    model = (small_net if args.net == "small" else seed_net)(seed=args.seed)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(args.seed)

    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(x))  # a new order every epoch, as shuffle=True does
        batches = range(0, len(x), args.batch_size)
        losses = []
        for step, start in enumerate(batches, start=1):
            idx = order[start : start + args.batch_size]
            loss, _ = model.loss_and_gradients(x[idx], y[idx])  # forward, loss, backward
            model.optimizer.step(model.parameters(), model.gradients())  # the update
            losses.append(loss)
            if step % args.every == 0 or step == len(batches):
                print(f"epoch {epoch}, batch {step}/{len(batches)}: loss {np.mean(losses):.4f}")
                losses = []

    test_loss, test_accuracy = model.evaluate(to_images(x_test), y_test.astype(np.int64))
    print(f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
