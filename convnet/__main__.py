"""``python -m convnet``: see :mod:`convnet.cli`."""

import sys

from convnet.cli import main

sys.exit(main(prog="python -m convnet"))
