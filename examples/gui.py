"""Draw a digit with the mouse and watch the trained model name it.

    python examples/gui.py                    # the newest runs/*/mnist.h5 (examples/train_mnist.py)
    python examples/gui.py --model runs/small/mnist.h5

The window shows the predicted digit and its confidence, a bar for each class, and the
28x28 image the model received: the strokes after MNIST-style preprocessing
(``convnet.preprocess.mnist_style``, the same as ``python -m convnet predict digit.png``).
Enter or Space recognises, Esc or Delete clears; I (or "See inside") opens a panel with every
convolution's feature maps and the answer's saliency and Grad-CAM, redrawn as you draw.
The same app is ``python -m convnet gui``.
"""

import sys

from convnet.cli import main

if __name__ == "__main__":
    sys.exit(main(prog=f"python {sys.argv[0]}", command="gui"))
