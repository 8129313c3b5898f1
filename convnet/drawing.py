"""The drawing app's logic, without a window: strokes → raster → preprocess → prediction → labels.

Not on the main reading path; :mod:`convnet.gui` puts a Tk window around it, and the tests
drive it without a display. Docs chapter: "Draw a digit" (``docs/gui.md``).

* :class:`Drawing` keeps the strokes and rasterises each piece into an in-memory picture
  the moment it is drawn: black ink on white paper at a fixed resolution (280x280, ten
  times MNIST's side), whatever the size of the window. Nothing is read back from the
  screen, so HiDPI scaling, Wayland or a window half off the screen change nothing.
* :class:`Recogniser` loads the model once, checks that it takes 28x28 grey images and
  names ten classes, and turns a raster into a :class:`Recognition`: the texts and numbers
  the window shows, with the class names stored in the model file (the digits for an MNIST
  model or a Keras file, "T-shirt/top", "Trouser", ... for a Fashion-MNIST one). An empty
  canvas gets "draw a digit"; a missing or unusable model file gets a message with the
  command that trains one.
* The confidence line tells the truth about doubtful answers (:func:`confidence`): two
  classes close in probability are both named ("3 or 5? 61% vs 35%"), and a drawing with
  much less or much more ink than the training digits of the class it was given gets a
  caution (:func:`ink_caution`, from the ranges in :data:`MNIST_INK`).
* :meth:`Recogniser.look_inside` is what the app's "See inside" panel shows: every
  convolution layer's feature maps for the drawing, the saliency of the answer and its
  Grad-CAM map stretched over the 28x28 input (an :class:`Insight`), computed with one
  forward and one backward pass; :func:`panel_mosaic` tiles a layer's maps into one
  picture that fits the panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convnet import inspect
from convnet.preprocess import ink_box, ink_on_black, mnist_style

__all__ = ["Drawing", "Recognition", "Recogniser", "Insight", "TRAIN_COMMAND", "DRAW_A_DIGIT",
           "MNIST_INK", "CLOSE", "ink", "ink_ranges", "confidence", "ink_caution", "stretch",
           "panel_mosaic"]

#: What to run to get a model the app can use.
TRAIN_COMMAND = "python examples/train_mnist.py"
#: What the app says instead of guessing on an empty or nearly empty canvas.
DRAW_A_DIGIT = "draw a digit"

#: The answer is called doubtful when the runner-up's probability is at least this fraction
#: of the winner's: 61% against 35% is named "3 or 5?", 75% against 24% is "75.0% sure".
CLOSE = 1 / 3

#: The ink of MNIST's training digits, per class: the 0.5th and 99.5th percentiles of
#: :func:`ink` (the mean grey level of the 28x28 image) over the 60,000 training images,
#: class by class, as :func:`ink_ranges` measures them (``tests/test_drawing.py`` measures
#: them again from ``$CONVNET_DATA_DIR``). Ninety-nine training digits in a hundred of each
#: class fall inside their class's range. The ranges are per class because one range for
#: all digits, 0.0449-0.2598, would call 4.4% of the training 1s "very little ink" (and
#: 2.9% of the 0s "very much"), and a 1 drawn as one straight stroke comes out at 0.049,
#: just above that floor; yet it would let pass a 1 with the ink of a bold 0.
MNIST_INK = (
    (0.0808, 0.2989),  # 0
    (0.0337, 0.1486),  # 1
    (0.0636, 0.2599),  # 2
    (0.0606, 0.2525),  # 3
    (0.0575, 0.2230),  # 4
    (0.0538, 0.2402),  # 5
    (0.0621, 0.2530),  # 6
    (0.0544, 0.2082),  # 7
    (0.0715, 0.2699),  # 8
    (0.0592, 0.2327),  # 9
)

_DIGITS = [str(digit) for digit in range(10)]


def ink(image) -> float:
    """How much ink an MNIST-style image holds: its mean grey level (0 black, 1 all ink).

    Parameters
    ----------
    image : ndarray, shape (H, W), values in [0, 1], ink bright on black

    Examples
    --------
    >>> square = np.zeros((28, 28)); square[4:24, 13:15] = 1.0     # a "1", 20 by 2 pixels
    >>> round(ink(square), 4)                                     # 40 / 784
    0.051
    """
    return float(np.mean(image))


def ink_ranges(images, labels, *, low: float = 0.5, high: float = 99.5):
    """The range of :func:`ink` of each class of ``images``: how :data:`MNIST_INK` was made.

    Parameters
    ----------
    images : ndarray, shape (N, H, W), uint8 0..255 (as :func:`convnet.data.load_mnist`
        gives them) or float in [0, 1]
    labels : ndarray of int, shape (N,)
    low, high : float
        Percentiles, 0 to 100.

    Returns
    -------
    list of (float, float), one per class 0 .. labels.max()

    Examples
    --------
    >>> images = np.zeros((4, 2, 2), np.uint8)
    >>> images[1, 0, 0] = images[3] = 255                          # ink 0.25 and 1.0
    >>> ink_ranges(images, np.array([0, 0, 1, 1]), low=0, high=100)
    [(0.0, 0.25), (0.0, 1.0)]
    """
    images, labels = np.asarray(images), np.asarray(labels)
    amount = images.reshape(len(images), -1).mean(axis=1, dtype=np.float64)
    if images.dtype == np.uint8:
        amount /= 255
    return [tuple(float(v) for v in np.percentile(amount[labels == k], [low, high]))
            for k in range(int(labels.max()) + 1)]  # fmt: skip


def confidence(probabilities, class_names) -> str:
    """The status line for a prediction: how sure, or which two classes it hesitates between.

    When the runner-up's probability is at least :data:`CLOSE` (a third) of the winner's, a
    single percentage would overstate the answer: both classes are named, with both
    probabilities. Otherwise the winner's probability.

    Parameters
    ----------
    probabilities : ndarray, shape (K,)
    class_names : list of str, length K

    Examples
    --------
    >>> digits = [str(d) for d in range(10)]
    >>> p = np.full(10, 0.02 / 9); p[3] = 0.98
    >>> confidence(p, digits)
    '98.0% sure'
    >>> p = np.zeros(10); p[[3, 5, 8]] = [0.61, 0.35, 0.04]             # 0.35 >= 0.61 / 3
    >>> confidence(p, digits)
    '3 or 5? 61% vs 35%'
    >>> p[[3, 5, 8]] = [0.75, 0.24, 0.01]                               # 0.24 < 0.75 / 3
    >>> confidence(p, digits)
    '75.0% sure'
    """
    p = np.asarray(probabilities, dtype=np.float64)
    first = int(p.argmax())  # the answer, as Recogniser.recognise picks it
    second = int(np.where(np.arange(len(p)) == first, -np.inf, p).argmax())
    if p[second] >= CLOSE * p[first]:
        return (f"{class_names[first]} or {class_names[second]}? "
                f"{p[first]:.0%} vs {p[second]:.0%}")  # fmt: skip
    return f"{p[first]:.1%} sure"


def ink_caution(model_input, digit: int, class_names) -> str:
    """A warning when the model's input has much less or much more ink than MNIST's digits
    of the class it was given, or "" when it is within :data:`MNIST_INK`'s range.

    The range is MNIST's, so only a model whose classes are the ten digits is checked; for
    any other (Fashion-MNIST's clothes) this returns "".

    Parameters
    ----------
    model_input : ndarray, shape (28, 28), MNIST-style (ink bright on black)
    digit : int
        The predicted class.
    class_names : list of str

    Examples
    --------
    >>> digits = [str(d) for d in range(10)]
    >>> thin = np.zeros((28, 28)); thin[4:24, 14] = 1.0           # 20 pixels of ink: 0.026
    >>> ink_caution(thin, 1, digits)
    'unlike the digits the model was trained on: very little ink for an MNIST 1'
    >>> thin[4:24, 13] = 1.0                                      # twice as much: a fine 1
    >>> ink_caution(thin, 1, digits)
    ''
    >>> ink_caution(np.ones((28, 28)), 8, digits)
    'unlike the digits the model was trained on: very much ink for an MNIST 8'
    >>> ink_caution(np.ones((28, 28)), 8, ["T-shirt/top"] * 10)   # not a digit model
    ''
    """
    if list(class_names) != _DIGITS:
        return ""
    amount, (least, most) = ink(model_input), MNIST_INK[digit]
    if least <= amount <= most:
        return ""
    how = "very little" if amount < least else "very much"
    return f"unlike the digits the model was trained on: {how} ink for an MNIST {digit}"


def stretch(image, size: int) -> np.ndarray:
    """``image`` resampled to ``size`` x ``size`` by bilinear interpolation, pixel centres
    aligned (the edge pixels' centres map to the edges' centres; beyond them the edge value).

    How a Grad-CAM map at a convolution layer's resolution is laid over the input.

    Parameters
    ----------
    image : ndarray, shape (h, w)
    size : int

    Returns
    -------
    ndarray, shape (size, size), float64

    Examples
    --------
    >>> stretch(np.array([[0.0, 1.0], [2.0, 3.0]]), 4)
    array([[0.  , 0.25, 0.75, 1.  ],
           [0.5 , 0.75, 1.25, 1.5 ],
           [1.5 , 1.75, 2.25, 2.5 ],
           [2.  , 2.25, 2.75, 3.  ]])
    """
    image = np.asarray(image, dtype=np.float64)

    def resample(values, axis):
        n = values.shape[axis]
        # Centre of output pixel i, in input pixels: (i + 0.5) * n / size - 0.5.
        where = (np.arange(size) + 0.5) * n / size - 0.5
        return np.apply_along_axis(lambda v: np.interp(where, np.arange(n), v), axis, values)

    return resample(resample(image, 0), 1)


def panel_mosaic(maps, *, width: int, height: int, gap: int = 2, largest_zoom: int = 8):
    """One layer's feature maps tiled into one picture that fits ``width`` x ``height``.

    Every map is enlarged by the same whole factor (pixel copies, so each pixel of a map
    stays visible), the largest that fits, at most ``largest_zoom``; the rows are balanced
    (8 maps in 4 + 4, not 6 + 2). All maps share one grey scale, from the layer's lowest
    value (or 0) to its highest: a map that is dark saw nothing, not a little that was
    stretched. If even 1x does not fit the height, the picture is taller than asked.

    Parameters
    ----------
    maps : ndarray, shape (K, h, w)
    width, height : int
        The room for the picture, in pixels.
    gap : int
        Pixels between maps.

    Returns
    -------
    tiles : ndarray, shape (rows * (zoom*h + gap) - gap, columns * (zoom*w + gap) - gap)
        float64 in [0, 1], NaN in the gaps and the unused places of the last row.
    zoom : int

    Examples
    --------
    >>> maps = np.arange(3 * 2 * 2, dtype=float).reshape(3, 2, 2)   # 3 maps of 2x2, 0..11
    >>> tiles, zoom = panel_mosaic(maps, width=9, height=9, gap=1)
    >>> zoom, tiles.shape                         # 2 columns of 2x(2x2) tiles, in 2 rows
    (2, (9, 9))
    >>> (tiles[:4, :4] * 11).round()               # the first map, each pixel four times
    array([[0., 0., 1., 1.],
           [0., 0., 1., 1.],
           [2., 2., 3., 3.],
           [2., 2., 3., 3.]])
    >>> bool(np.isnan(tiles[:, 4]).all()), float(np.nanmax(tiles))   # a gap; the top is 1
    (True, 1.0)
    """
    maps = np.asarray(maps, dtype=np.float64)
    k, h, w = maps.shape
    for zoom in range(largest_zoom, 0, -1):
        columns = min(k, (width + gap) // (zoom * w + gap))
        if columns and -(-k // columns) * (zoom * h + gap) - gap <= height:
            break
    else:
        zoom, columns = 1, max(1, min(k, (width + gap) // (w + gap)))
    rows = -(-k // columns)
    columns = -(-k // rows)
    low, high = min(0.0, float(maps.min())), float(maps.max())
    scaled = (maps - low) / (high - low) if high > low else np.zeros_like(maps)
    big = scaled.repeat(zoom, axis=1).repeat(zoom, axis=2)
    return inspect.mosaic(big, columns, gap), zoom


class Drawing:
    """Strokes, in raster coordinates, and the raster they make.

    Each stroke is a pen-down point followed by the points the pen moved through. The
    raster gets a disc of the pen's width at every point and a line of that width between
    consecutive points: round caps and round joins, as the window draws them.

    Parameters
    ----------
    size : int
        Side of the square raster, in pixels.
    pen : float
        Width of the pen, in raster pixels. The default, 22 on 280, gives a digit drawn
        across most of the canvas strokes 2-3 pixels wide after shrinking to 20 pixels, as
        thick as MNIST's.

    Examples
    --------
    >>> d = Drawing()
    >>> d.pen_down(140, 40); d.pen_to(140, 240)            # a vertical "1"
    >>> raster = d.raster()
    >>> raster.shape, float(raster[140, 140]), float(raster[140, 20])   # ink 0, paper 1
    ((280, 280), 0.0, 1.0)
    >>> len(d.strokes)
    1
    >>> d.clear(); float(d.raster().min()), d.strokes                  # blank again
    (1.0, [])
    """

    def __init__(self, size: int = 280, pen: float = 22.0):
        from PIL import Image, ImageDraw

        self.size, self.pen = size, float(pen)
        self.strokes: list[list[tuple[float, float]]] = []
        self._image = Image.new("L", (size, size), 255)
        self._draw = ImageDraw.Draw(self._image)

    def _dot(self, x: float, y: float) -> None:
        r = self.pen / 2
        self._draw.ellipse([x - r, y - r, x + r, y + r], fill=0)

    def pen_down(self, x: float, y: float) -> None:
        """Start a stroke at ``(x, y)`` (raster pixels; x to the right, y down)."""
        self.strokes.append([(float(x), float(y))])
        self._dot(x, y)

    def pen_to(self, x: float, y: float) -> None:
        """Continue the current stroke to ``(x, y)``."""
        if not self.strokes:
            raise ValueError("pen_to before pen_down: a stroke starts with pen_down(x, y)")
        stroke = self.strokes[-1]
        self._draw.line([stroke[-1], (x, y)], fill=0, width=round(self.pen))
        self._dot(x, y)
        stroke.append((float(x), float(y)))

    def clear(self) -> None:
        """Forget every stroke and wipe the raster."""
        self.strokes.clear()
        self._draw.rectangle([0, 0, self.size, self.size], fill=255)

    def raster(self) -> np.ndarray:
        """The picture so far.

        Returns
        -------
        ndarray, shape (size, size), float32 in [0, 1]: 1 is paper, 0 is ink
        """
        return np.asarray(self._image, dtype=np.float32) / 255


@dataclass(frozen=True)
class Recognition:
    """What the window shows after recognising a raster.

    Attributes
    ----------
    answer : str
        The predicted class's name (the digit, for an MNIST model), or "" when there is none
        to show.
    status : str
        The confidence (:func:`confidence`: "98.5% sure", or "3 or 5? 61% vs 35%"),
        :data:`DRAW_A_DIGIT`, or what is wrong with the model.
    digit : int or None
        The predicted class's number.
    probabilities : ndarray, shape (10,), or None
        The model's probability for each class, for the ten bars.
    model_input : ndarray, shape (28, 28), or None
        The preprocessed image the model received (None when the canvas is empty).
    problem : bool
        True when ``status`` says the model could not be used.
    caution : str
        A warning that the drawing is unlike the digits the model learnt from
        (:func:`ink_caution`), or "".
    """

    answer: str
    status: str
    digit: int | None = None
    probabilities: np.ndarray | None = None
    model_input: np.ndarray | None = None
    problem: bool = False
    caution: str = ""


@dataclass(frozen=True)
class Insight:
    """What the network makes of one drawing, for the app's "See inside" panel.

    Attributes
    ----------
    digit : int
        The class explained (the answer).
    name : str
        Its name.
    maps : dict of str to ndarray, shape (K, h, w)
        The output of every :class:`~convnet.layers.Conv2D` layer (after its activation),
        by layer name, in the order of the layers.
    saliency : ndarray, shape (28, 28)
        ``d z_digit / d x``, the gradient of the class's logit with respect to each input
        pixel (:func:`convnet.inspect.saliency`).
    cam : ndarray, shape (28, 28), or None
        The Grad-CAM map of the last convolution layer (:func:`convnet.inspect.grad_cam`),
        stretched from the layer's ``(h, w)`` over the input (:func:`stretch`). Not
        normalised; 0 where no feature speaks for the class. None for a model without
        convolutions.
    cam_layer : str or None
        The layer Grad-CAM looked at.
    model_input : ndarray, shape (28, 28)
        The image explained.
    """

    digit: int
    name: str
    maps: dict
    saliency: np.ndarray
    cam: np.ndarray | None
    cam_layer: str | None
    model_input: np.ndarray


class Recogniser:
    """A model file, loaded and checked once, that names the class of a drawing in a raster.

    Parameters
    ----------
    model_path : str or Path
        A model file (``mnist.h5``) that takes ``(N, 1, 28, 28)`` images and ends in a
        softmax over 10 classes. If it is missing or unusable, :attr:`problem` says why and
        how to get one, and every recognition shows that message instead of a guess.
        :attr:`class_names` are the model's (:attr:`convnet.model.Sequential.class_names`),
        or the ten digits when there is no model.
    min_extent : float
        Ink whose bounding box is smaller than this fraction of the canvas on both sides (a
        click, a speck) counts as an empty canvas.

    Examples
    --------
    >>> r = Recogniser("no-such-model.h5")
    >>> r.problem
    'no model file at no-such-model.h5; train one with `python examples/train_mnist.py`'
    >>> r.recognise(Drawing().raster()).status
    'no model file at no-such-model.h5; train one with `python examples/train_mnist.py`'
    >>> r.class_names[:3]
    ['0', '1', '2']
    """

    def __init__(self, model_path, *, min_extent: float = 0.15):
        self.model_path = Path(model_path)
        self.min_extent = min_extent
        self.model, self.problem = None, None
        self.class_names = [str(digit) for digit in range(10)]
        try:
            self.model = self._load(self.model_path)
            self.class_names = self.model.class_names
        except (OSError, ValueError) as err:
            self.problem = str(err)
            if TRAIN_COMMAND not in self.problem:  # damaged, or not a model convnet can read
                self.problem += f"; train a model this app can use with `{TRAIN_COMMAND}`"

    @staticmethod
    def _load(path):
        from convnet.io import load_model

        model = load_model(path, compile=False)
        wanted = f"this app needs one that takes (1, 28, 28) images and names 10 classes; " \
                 f"train one with `{TRAIN_COMMAND}`"  # fmt: skip
        if tuple(model.input_shape) != (1, 28, 28) or tuple(model.output_shape) != (10,):
            raise ValueError(f"{path}: the model takes {tuple(model.input_shape)} inputs and "
                             f"gives {tuple(model.output_shape)} outputs; {wanted}")  # fmt: skip
        # One prediction now: compiles the kernels before the first stroke, and shows whether
        # the outputs are probabilities (a model without a final softmax gives logits).
        p = model.predict(np.zeros((1, 1, 28, 28), model.dtype))[0]
        if not (np.all(p >= 0) and abs(float(p.sum()) - 1) < 1e-3):
            raise ValueError(f"{path}: the model's outputs are not probabilities (no final "
                             f"softmax?); {wanted}")  # fmt: skip
        return model

    def is_blank(self, raster) -> bool:
        """True when ``raster`` holds no ink, or only a speck of it."""
        box = ink_box(ink_on_black(raster))
        if box is None:
            return True
        top, bottom, left, right = box
        limit = self.min_extent * max(np.shape(raster))
        return max(bottom - top + 1, right - left + 1) < limit

    def recognise(self, raster) -> Recognition:
        """Name the class of what is drawn in ``raster``.

        Parameters
        ----------
        raster : ndarray, shape (H, W), float in [0, 1], dark ink on light paper or the reverse

        Returns
        -------
        Recognition
        """
        if self.is_blank(raster):
            return Recognition("", self.problem or DRAW_A_DIGIT, problem=self.problem is not None)
        seen = mnist_style(raster)
        if self.model is None:
            return Recognition("", self.problem, model_input=seen, problem=True)
        p = self.model.predict(seen[None, None].astype(self.model.dtype))[0]
        digit = int(p.argmax())
        return Recognition(self.class_names[digit], confidence(p, self.class_names),
                           digit=digit, probabilities=p, model_input=seen,
                           caution=ink_caution(seen, digit, self.class_names))  # fmt: skip

    def look_inside(self, model_input, digit: int) -> Insight | None:
        """The feature maps, saliency and Grad-CAM of the model for one 28x28 input.

        One forward pass in inference mode keeps every layer's output; one backward pass,
        started from the one-hot gradient of class ``digit``'s logit, goes down to the
        input (the saliency) and passes the last convolution on the way (its output's
        gradient gives Grad-CAM's weights): :func:`convnet.inspect.look`.

        Parameters
        ----------
        model_input : ndarray, shape (28, 28), or None
            :attr:`Recognition.model_input`.
        digit : int
            The class to explain (:attr:`Recognition.digit`).

        Returns
        -------
        Insight, or None without a model or an input (nothing to look at)

        Examples
        --------
        >>> from convnet.nets import small_net
        >>> r = Recogniser("no-such-model.h5")
        >>> r.look_inside(np.zeros((28, 28)), 3) is None              # no model
        True
        >>> r.model, r.class_names = small_net(seed=0), list("0123456789")
        >>> seen = r.look_inside(np.eye(28), 3)
        >>> {name: maps.shape for name, maps in seen.maps.items()}
        {'conv2d': (8, 24, 24), 'conv2d_1': (16, 8, 8)}
        >>> seen.saliency.shape, seen.cam.shape, seen.cam_layer, seen.name
        ((28, 28), (28, 28), 'conv2d_1', '3')
        """
        if self.model is None or model_input is None:
            return None
        model = self.model
        x = np.asarray(model_input, dtype=model.dtype)[None, None]
        convs = inspect.conv_layers(model)
        cam_layer = convs[-1] if convs else None  # as convnet.inspect.last_conv_layer
        outputs, gradient, cam, _ = inspect.look(model, x, digit, cam_layer)
        # Copies: a layer may reuse its output buffers in the next prediction.
        maps = {layer.name: out[0].copy() for layer, out in zip(model.layers, outputs, strict=True)
                if layer in convs}  # fmt: skip
        if cam_layer is not None:
            cam, cam_layer = stretch(cam[0], np.shape(model_input)[-1]), cam_layer.name
        return Insight(digit, self.class_names[digit], maps, gradient[0, 0].copy(), cam, cam_layer,
                       np.asarray(model_input))  # fmt: skip
