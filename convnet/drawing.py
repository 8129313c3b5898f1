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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convnet.preprocess import ink_box, ink_on_black, mnist_style

__all__ = ["Drawing", "Recognition", "Recogniser", "TRAIN_COMMAND", "DRAW_A_DIGIT"]

#: What to run to get a model the app can use.
TRAIN_COMMAND = "python examples/train_mnist.py"
#: What the app says instead of guessing on an empty or nearly empty canvas.
DRAW_A_DIGIT = "draw a digit"


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
        The confidence ("98.5% sure"), :data:`DRAW_A_DIGIT`, or what is wrong with the model.
    digit : int or None
        The predicted class's number.
    probabilities : ndarray, shape (10,), or None
        The model's probability for each class, for the ten bars.
    model_input : ndarray, shape (28, 28), or None
        The preprocessed image the model received (None when the canvas is empty).
    problem : bool
        True when ``status`` says the model could not be used.
    """

    answer: str
    status: str
    digit: int | None = None
    probabilities: np.ndarray | None = None
    model_input: np.ndarray | None = None
    problem: bool = False


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
        return Recognition(self.class_names[digit], f"{p[digit]:.1%} sure", digit=digit,
                           probabilities=p, model_input=seen)  # fmt: skip
