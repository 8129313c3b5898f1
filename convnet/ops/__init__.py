"""The ops: pure forward/backward function pairs, each written twice (naive and fast).

Reading order: ... → im2col → **5. ops** (conv, pool, dense, activations, dropout,
batch normalization, softmax) → initializers → layers → ... Docs: one chapter per op.

Every ``*_forward(...)`` returns ``(out, cache)``; every ``*_backward(dout, cache)`` returns
the gradient of the input first, then of each parameter. The ``*_naive`` twin of each has the
same signature and is there to be read.

Every op computes in the dtype of the arrays it is given, float32 or float64; any other
dtype (an integer image, say, whose results would be truncated) is a ValueError naming the
op and the dtype, from :func:`convnet.shapes.check_float`. Sizes, strides and paddings must
be ints: ``stride=1.7`` is refused, not rounded (:func:`convnet.shapes.pair`).
"""

from convnet.ops.activations import *  # noqa: F403
from convnet.ops.activations import __all__ as _act
from convnet.ops.batchnorm import *  # noqa: F403
from convnet.ops.batchnorm import __all__ as _bn
from convnet.ops.conv import *  # noqa: F403
from convnet.ops.conv import __all__ as _conv
from convnet.ops.dense import *  # noqa: F403
from convnet.ops.dense import __all__ as _dense
from convnet.ops.dropout import *  # noqa: F403
from convnet.ops.dropout import __all__ as _drop
from convnet.ops.pool import *  # noqa: F403
from convnet.ops.pool import __all__ as _pool
from convnet.ops.softmax import *  # noqa: F403
from convnet.ops.softmax import __all__ as _soft

__all__ = [*_conv, *_pool, *_dense, *_act, *_drop, *_bn, *_soft]
