"""Train the seed-net on MNIST with the network, split and optimizer of the notebook this
project descends from, plus random shifts of the training images by up to one pixel.

    python examples/train_mnist.py                 # 12 epochs, Adam 1e-3, batch 128, --shift 1
    python examples/train_mnist.py --shift 0       # the notebook's recipe exactly: no shifts
    python examples/train_mnist.py --rotate 10 --zoom 0.1   # small turns and zooms as well
    python examples/train_mnist.py --limit 5000 --epochs 2     # a quick look
    python examples/train_mnist.py --resume        # continue the interrupted run in runs/seed/
    python examples/train_mnist.py --net small --epochs 3   # a 6k-parameter CNN, in seconds
    python examples/train_mnist.py --net modern    # a residual net with its own recipe
    python examples/train_mnist.py --dataset fashion_mnist  # the same on Fashion-MNIST

Steps (each is a few lines of ``convnet.cli.train``, worth reading):

1. load MNIST, or the --dataset named (from --data-dir, $CONVNET_DATA_DIR, the user cache,
   or by download: ``convnet.data`` says where else each dataset is looked for) and take
   the notebook's stratified 48,000/12,000 train/validation split;
2. build the seed-net (or --net) and print its summary; ``--net modern`` is a small residual
   network with batch normalization, trained with its own recipe (AdamW, a one-cycle
   schedule, random turns, zooms and moves: ``convnet.cli.RECIPES``);
3. fit with a progress bar per epoch, validating after each and writing ``checkpoint.h5``
   (weights, optimizer state, epoch, history; ``--resume`` continues from it); every
   training batch is moved by a random whole pixel or none each way (``--shift``, see
   ``convnet.augment``; ``--rotate`` and ``--zoom`` turn and zoom them too);
4. evaluate once on the 10,000 test images and print ``Test loss`` / ``Test accuracy``;
5. save ``mnist.h5`` (Keras's HDF5 layout: ``keras.models.load_model`` opens it) and PNG
   plots (learning curves, accuracy against wall-clock time, confusion matrix,
   misclassified digits) into the run's folder,
   ``runs/seed/`` (named after --net and the other options given; --out picks another),
   and list where each file went.

The same run is ``python -m convnet train``.
"""

import sys

from convnet.cli import main

if __name__ == "__main__":
    sys.exit(main(prog=f"python {sys.argv[0]}", command="train"))
