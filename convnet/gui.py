"""The drawing app's window: ``python -m convnet gui`` or ``python examples/gui.py``.

Not on the main reading path. Everything worth testing happens in :mod:`convnet.drawing`;
this module only shows it with Tk (tkinter, in Python's standard library): a canvas to draw
on, the predicted class (a digit, or a name such as "Sneaker" for a model trained on
Fashion-MNIST) and its confidence (naming both classes when two are close, with a caution
when the drawing is unlike the training digits), a bar for each class's probability
labelled with the model's class names, the 28x28 image the model received, and Recognise,
Clear and See inside buttons. Docs chapter: "Draw a digit" (``docs/gui.md``).

The canvas stays square and fills the space it is given; strokes are kept in the drawing's
raster coordinates and redrawn at the new scale when the window is resized. Recognition
runs a moment after the pen stops moving (debounced), when the pen is lifted, and on demand.

"See inside" (or the I key) opens a panel beside the answer that follows every
recognition: each convolution layer's feature maps as a mosaic, and the saliency and
Grad-CAM of the answer over the model's input (:meth:`Recogniser.look_inside
<convnet.drawing.Recogniser.look_inside>`). It is drawn without matplotlib's figures, which
take tens of milliseconds each: the maps are coloured through a 256-entry table sampled once
from a matplotlib colour map (:func:`colour`) and handed to Tk as pictures. How long the
panel takes after each recognition is kept and written to the state file.
"""

from __future__ import annotations

import functools
import json
import sys
import time
import zlib
from collections import deque

import numpy as np

from convnet.drawing import DRAW_A_DIGIT, Drawing, Insight, Recogniser, Recognition, panel_mosaic
from convnet.files import atomic_write
from convnet.inspect import conv_layers

__all__ = ["DigitApp", "run", "colour_table", "colour"]

INK, PAPER, BAR, BEST = "#000000", "#ffffff", "#9db4d0", "#2f6db5"
CAUTION = "#9a4f00"
ZOOM = 5  # the 28x28 model input is shown at 140x140
# Room for the "See inside" panel's mosaics: small enough that the window, panel open, fits a
# 1024x768 screen; MAPS_HEIGHT is shared between the convolution layers.
MAPS_WIDTH, MAPS_HEIGHT = 300, 400
GAP = (0xD9, 0xD9, 0xD9)  # between the maps: Tk's default background, so the tiles stand out
KEEP = 20  # how many of the panel's latest timings are kept
GREYS = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)  # a grey colour table


@functools.cache
def colour_table(name: str = "viridis") -> np.ndarray:
    """A matplotlib colour map sampled once into a lookup table, shape (256, 3), uint8.

    Examples
    --------
    >>> table = colour_table("viridis")
    >>> table.shape, table.dtype, table[0].tolist(), table[-1].tolist()   # dark blue .. yellow
    ((256, 3), dtype('uint8'), [68, 1, 84], [253, 231, 37])
    """
    from matplotlib import colormaps

    rgba = colormaps[name](np.linspace(0.0, 1.0, 256))
    return np.round(rgba[:, :3] * 255).astype(np.uint8)


def colour(values, table, *, zoom: int = 1, background=GAP) -> np.ndarray:
    """Values in [0, 1] (NaN for no value) to an RGB picture through a colour ``table``.

    Parameters
    ----------
    values : ndarray, shape (H, W), float in [0, 1] or NaN
    table : ndarray, shape (256, 3), uint8 (:func:`colour_table`)
    zoom : int
        Each value becomes ``zoom`` x ``zoom`` pixels.
    background : (int, int, int)
        The colour of NaN.

    Returns
    -------
    ndarray, shape (zoom*H, zoom*W, 3), uint8

    Examples
    --------
    >>> table = np.arange(256, dtype=np.uint8)[:, None].repeat(3, axis=1)     # grey levels
    >>> colour(np.array([[0.0, 1.0, np.nan]]), table, background=(1, 2, 3))[0].tolist()
    [[0, 0, 0], [255, 255, 255], [1, 2, 3]]
    >>> colour(np.array([[0.5]]), table, zoom=2).shape
    (2, 2, 3)
    """
    values = np.asarray(values, dtype=np.float64)
    blank = np.isnan(values)
    index = np.round(np.clip(np.where(blank, 0.0, values), 0.0, 1.0) * 255).astype(np.intp)
    rgb = table[index]
    rgb[blank] = background
    if zoom > 1:
        rgb = rgb.repeat(zoom, axis=0).repeat(zoom, axis=1)
    return rgb


class DigitApp:
    """The window's widgets and event handlers around a :class:`Drawing` and a :class:`Recogniser`.

    Parameters
    ----------
    root : tkinter.Tk
    recogniser : Recogniser
    state_file : str or Path, optional
        After every change, what the window shows (answer, status, caution, bars, where the
        canvas is on the screen; whether the "See inside" panel is open, how often it was
        redrawn, which class it explained, a checksum of its pictures and how long it took)
        is written there as JSON, atomically: for tests and scripts.
    delay_ms : int
        Recognise this long after the pen stops moving.

    Attributes
    ----------
    panel_ms : deque of float
        The latest times, in milliseconds, from the start of a recognition of a drawing (the
        pause, the pen lifted, a key) to the open panel redrawn on the screen: the
        prediction, the look inside the model, the pictures, and Tk's drawing of them.
    pen_up_ms : deque of float
        The same, from the moment the pen was lifted: ``delay_ms`` more.
    """

    def __init__(self, root, recogniser: Recogniser, *, state_file=None, delay_ms: int = 150):
        import tkinter as tk  # here, not at the top: the module imports without Tk installed
        from tkinter import font as tkfont

        self.root, self.recogniser, self.state_file = root, recogniser, state_file
        self.drawing = Drawing()
        self.delay_ms, self.pending, self.recognitions, self.trigger = delay_ms, None, 0, None
        self.result = Recognition("", "")
        self.inside, self.inside_open, self.inside_updates = None, False, 0
        self.explained, self.checksum, self.pen_up_at = None, None, None
        self.photos, self.layer_shapes = {}, {}
        self.panel_ms, self.pen_up_ms = deque(maxlen=KEEP), deque(maxlen=KEEP)
        root.title("convnet: draw a digit")
        root.columnconfigure(0, weight=1)
        root.rowconfigure(0, weight=1)
        root.minsize(520, 420)

        # The canvas sits centred in a frame that takes all the spare room; it stays square.
        self.board = tk.Frame(root, background="#c8c8c8", width=460, height=460)
        self.board.grid(row=0, column=0, sticky="nsew")
        self.canvas = tk.Canvas(self.board, background=PAPER, highlightthickness=0,
                                cursor="pencil")  # fmt: skip
        self.canvas.place(relx=0.5, rely=0.5, anchor="center", width=400, height=400)
        self.board.bind("<Configure>", self._fit_canvas)
        self.canvas.bind("<ButtonPress-1>", self._pen_down)
        self.canvas.bind("<B1-Motion>", self._pen_to)
        self.canvas.bind("<ButtonRelease-1>", self._pen_up)

        panel = tk.Frame(root, padx=12, pady=8)
        panel.grid(row=0, column=1, sticky="ns")
        self.answer = tk.Label(panel, text="", font=("Helvetica", 64, "bold"), width=2)
        self.answer.pack()
        self.status = tk.Label(panel, text="", wraplength=260, justify="center")
        self.status.pack(fill="x")
        # Two lines whether there is a caution or not, so that one does not move the canvas.
        self.caution = tk.Label(panel, text="", wraplength=280, justify="center", height=2,
                                foreground=CAUTION)  # fmt: skip
        self.caution.pack(fill="x")
        self.bars = tk.Canvas(panel, width=280, height=10 * 20 + 4, highlightthickness=0)
        self.label_font = tkfont.nametofont("TkDefaultFont")
        self.bars.pack(pady=8)
        tk.Label(panel, text="what the model sees (28x28)").pack()
        self.seen = _photo(28 * ZOOM, 28 * ZOOM)
        tk.Label(panel, image=self.seen, borderwidth=1, relief="solid").pack(pady=4)
        buttons = tk.Frame(panel)
        buttons.pack(pady=8)
        tk.Button(buttons, text="Recognise (Enter)", command=self.recognise).pack(side="left")
        tk.Button(buttons, text="Clear (Esc)", command=self.clear).pack(side="left", padx=6)
        self.inside_button = tk.Button(panel, text="See inside (I)", command=self.toggle_inside)
        self.inside_button.pack(pady=(0, 8))
        tk.Label(panel, text="Draw with the mouse. Enter or Space: recognise. Esc or "
                 "Delete: clear. I: see inside.", wraplength=260,
                 foreground="#555555").pack()  # fmt: skip
        for key in ("<Return>", "<KP_Enter>", "<space>"):
            root.bind(key, lambda event: self.recognise("key"))
        for key in ("<Escape>", "<Delete>", "<BackSpace>"):
            root.bind(key, lambda event: self.clear("key"))
        for key in ("<i>", "<I>"):
            root.bind(key, lambda event: self.toggle_inside())
        self.canvas.bind("<Configure>", lambda event: self._write_state(), add="+")
        self.recognise("start")

    # -- drawing ---------------------------------------------------------------------------

    def _scale(self) -> float:
        """Screen pixels per raster pixel."""
        return max(self.canvas.winfo_width(), 1) / self.drawing.size

    def _pen_down(self, event) -> None:
        self.pen_up_at = None
        s = self._scale()
        self.drawing.pen_down(event.x / s, event.y / s)
        self._draw_stroke(self.drawing.strokes[-1], s)
        self._recognise_soon()

    def _pen_to(self, event) -> None:
        if not self.drawing.strokes:  # cleared (Esc) with the pen down: a new stroke starts
            return self._pen_down(event)
        s = self._scale()
        self.drawing.pen_to(event.x / s, event.y / s)
        self.canvas.delete(self.current)
        self._draw_stroke(self.drawing.strokes[-1], s)
        self._recognise_soon()

    def _pen_up(self, event) -> None:
        self.pen_up_at = time.perf_counter()
        self._recognise_soon()

    def _draw_stroke(self, stroke, s: float) -> None:
        width = self.drawing.pen * s
        points = [coordinate * s for point in stroke for coordinate in point]
        if len(stroke) == 1:
            x, y, r = points[0], points[1], width / 2
            self.current = self.canvas.create_oval(x - r, y - r, x + r, y + r, fill=INK,
                                                   outline="", tags="ink")  # fmt: skip
        else:
            self.current = self.canvas.create_line(*points, width=width, fill=INK,
                                                   capstyle="round", joinstyle="round",
                                                   smooth=True, tags="ink")  # fmt: skip

    def _fit_canvas(self, event) -> None:
        side = max(min(event.width, event.height) - 16, 50)
        self.canvas.place_configure(width=side, height=side)
        self.canvas.update_idletasks()  # the canvas's new size, before redrawing at its scale
        self.canvas.delete("ink")
        s = side / self.drawing.size
        for stroke in self.drawing.strokes:
            self._draw_stroke(stroke, s)

    def clear(self, trigger: str = "button") -> None:
        self.drawing.clear()
        self.canvas.delete("ink")
        self.recognise(trigger)

    # -- recognition -----------------------------------------------------------------------

    def _recognise_soon(self) -> None:
        if self.pending is not None:
            self.root.after_cancel(self.pending)
        self.pending = self.root.after(self.delay_ms, self.recognise, "pause")

    def recognise(self, trigger: str = "button") -> None:
        """Recognise the drawing now; ``trigger`` (button, key, pause, start) goes in the state."""
        started = time.perf_counter()
        if self.pending is not None:
            self.root.after_cancel(self.pending)
            self.pending = None
        self.result = self.recogniser.recognise(self.drawing.raster())
        self.recognitions, self.trigger = self.recognitions + 1, trigger
        self._show(self.result)
        if self.inside_open:
            self._show_inside()
        # Drawn now, not when Tk is next idle: the state file, written below, then tells what
        # a screenshot shows, and the time taken counts the drawing.
        self.root.update_idletasks()
        if self.inside_open and self.explained is not None:  # a drawing, not an empty canvas
            done = time.perf_counter()
            self.panel_ms.append(round((done - started) * 1000, 1))
            self.inside_timing.configure(text=f"recognised and drawn in {self.panel_ms[-1]:.0f} ms")
            if trigger == "pause" and self.pen_up_at is not None:
                self.pen_up_ms.append(round((done - self.pen_up_at) * 1000, 1))
        if trigger == "pause":
            self.pen_up_at = None
        self._write_state()

    def _show(self, result: Recognition) -> None:
        # A digit in large type; a name such as "Ankle boot" smaller, to fit the panel.
        short = len(result.answer) <= 2
        self.answer.configure(text=result.answer, width=2 if short else 12,
                              font=("Helvetica", 64 if short else 24, "bold"))  # fmt: skip
        self.status.configure(text=result.status,
                              foreground="#b00020" if result.problem else "#000000")  # fmt: skip
        self.caution.configure(text=result.caution)
        self._show_bars(result.probabilities)
        self._show_model_input(result.model_input)

    def _show_bars(self, probabilities) -> None:
        self.bars.delete("all")
        width = int(self.bars.cget("width"))
        best = int(np.argmax(probabilities)) if probabilities is not None else None
        names = self.recogniser.class_names
        # The bars start right of the longest name: 24 pixels for digits, more for words.
        left = max(24, 10 + max(self.label_font.measure(name) for name in names))
        for k, name in enumerate(names):
            y = 2 + k * 20
            p = float(probabilities[k]) if probabilities is not None else 0.0
            self.bars.create_text(left - 6, y + 9, text=name, anchor="e", font=self.label_font)
            self.bars.create_rectangle(left, y + 2, width - 64, y + 17, outline="#bbbbbb")
            if p > 0:
                self.bars.create_rectangle(left, y + 2, left + p * (width - 64 - left), y + 17,
                                           width=0, fill=BEST if k == best else BAR)  # fmt: skip
            if probabilities is not None:
                self.bars.create_text(width - 4, y + 9, text=f"{p:.1%}", anchor="e")

    def _show_model_input(self, image) -> None:
        if image is None:
            image = np.zeros((28, 28), np.float32)
        _put(self.seen, colour(image, GREYS, zoom=ZOOM))

    # -- see inside ------------------------------------------------------------------------

    def toggle_inside(self) -> None:
        """Open the "See inside" panel, or close it if it is open."""
        if self.inside_open:
            self.inside.grid_remove()
            self.board.configure(width=460)
            self.inside_button.configure(relief="raised", text="See inside (I)")
            self.inside_open = False
        else:
            if self.inside is None:
                self._build_inside()
            # The canvas gives up some room, so that the window keeps within 1024 pixels.
            self.board.configure(width=360)
            self.inside.grid()
            self.inside_button.configure(relief="sunken", text="Hide inside (I)")
            self.inside_open = True
            self._show_inside()
        self.root.update_idletasks()
        self._write_state()

    def _build_inside(self) -> None:
        """The panel's widgets: a caption and a picture per convolution layer, then the
        saliency and Grad-CAM pictures. Their sizes depend only on the model's layers."""
        import tkinter as tk
        from tkinter import font as tkfont

        self.inside = tk.Frame(self.root, padx=8, pady=8)
        self.inside.grid(row=0, column=2, sticky="ns")
        colour_table(), colour_table("jet")  # sampled now, not during the first drawing
        bold = tkfont.nametofont("TkDefaultFont").copy()
        bold.configure(weight="bold")
        grey = {"foreground": "#555555"}
        self.inside_title = tk.Label(self.inside, text="", font=bold)
        self.inside_title.pack(anchor="w")
        convs = self._convs()
        for layer in convs:
            k, h, w = layer.output_shape
            tiles, zoom = panel_mosaic(np.zeros((k, h, w)), width=MAPS_WIDTH,
                                       height=self._maps_height())  # fmt: skip
            shown = f", shown {zoom}x" if zoom > 1 else ""
            tk.Label(self.inside, text=f"{layer.name}: {k} feature maps of {h}x{w}{shown}"
                     ).pack(anchor="w", pady=(6, 2))  # fmt: skip
            self.photos[layer.name] = _photo(tiles.shape[1], tiles.shape[0])
            tk.Label(self.inside, image=self.photos[layer.name], borderwidth=0).pack(anchor="w")
            self.layer_shapes[layer.name] = [k, h, w, zoom]
        self.why = tk.Label(self.inside, text="", font=bold)
        self.why.pack(anchor="w", pady=(10, 2))
        pair = tk.Frame(self.inside)
        pair.pack(anchor="w")
        captions = {}
        for name in ("saliency", "cam"):
            column = tk.Frame(pair)
            column.pack(side="left", padx=(0, 8 if name == "saliency" else 0), anchor="n")
            self.photos[name] = _photo(28 * ZOOM, 28 * ZOOM)
            tk.Label(column, image=self.photos[name], borderwidth=0).pack()
            captions[name] = tk.Label(column, text="", anchor="w")
            captions[name].pack(anchor="w")
        captions["saliency"].configure(text="saliency")
        self.cam_caption = captions["cam"]
        tk.Label(self.inside, wraplength=MAPS_WIDTH, justify="left", **grey,
                 text="Dark purple is 0, yellow the largest value of the layer (or picture). "
                      "Saliency: how much each pixel moves the answer's score. Grad-CAM: "
                      "where the last layer's features speak for the answer."
                 ).pack(anchor="w", pady=(6, 0))  # fmt: skip
        self.inside_timing = tk.Label(self.inside, text="", **grey)
        self.inside_timing.pack(anchor="w", pady=(6, 0))

    def _convs(self) -> list:
        model = self.recogniser.model
        return [] if model is None else conv_layers(model)

    def _maps_height(self) -> int:
        """The height each convolution layer's mosaic may take."""
        return max(MAPS_HEIGHT // max(len(self._convs()), 1), 100)

    def _show_inside(self) -> None:
        """Redraw the panel for the latest recognition: what the model computed for the
        answer, or its layers at rest (all zero) when there is no answer."""
        result = self.result
        seen = None
        if result.digit is not None:
            seen = self.recogniser.look_inside(result.model_input, result.digit)
        shown = []
        for name, photo in self.photos.items():
            rgb = self._inside_picture(name, seen)
            _put(photo, rgb)
            shown.append(rgb.tobytes())
        if seen is None:
            self.inside_title.configure(text="What the network sees")
            self.why.configure(text="no model to look inside" if self.recogniser.model is None
                               else DRAW_A_DIGIT)  # fmt: skip
            self.cam_caption.configure(text="Grad-CAM")
        else:
            self.inside_title.configure(text=f"What the network sees: {seen.name!r}")
            self.why.configure(text=f"Why {seen.name!r}?")
            self.cam_caption.configure(text=f"Grad-CAM of {seen.cam_layer}" if seen.cam_layer
                                       else "no Conv2D for Grad-CAM")  # fmt: skip
        self.inside_updates += 1
        self.explained = None if seen is None else seen.digit
        self.checksum = zlib.adler32(b"".join(shown))

    def _inside_picture(self, name, seen: Insight | None) -> np.ndarray:
        """The RGB picture for one place of the panel: a layer's mosaic, the saliency or
        the Grad-CAM map over the input."""
        side = (28, 28)
        if name == "saliency":
            strength = np.zeros(side) if seen is None else np.abs(seen.saliency)
            return colour(strength / max(float(strength.max()), 1e-12), colour_table(),
                          zoom=ZOOM)  # fmt: skip
        if name == "cam":
            if seen is None or seen.cam is None:
                image = np.zeros(side) if seen is None else seen.model_input
                return colour(image, GREYS, zoom=ZOOM)
            # The input in grey, tinted by the map's colour as much as the map is strong.
            heat = seen.cam / max(float(seen.cam.max()), 1e-12)
            grey = np.clip(seen.model_input, 0, 1)[..., None] * 255
            tint = colour_table("jet")[np.round(heat * 255).astype(np.intp)]
            alpha = 0.65 * heat[..., None]
            rgb = np.round((1 - alpha) * grey + alpha * tint).astype(np.uint8)
            return rgb.repeat(ZOOM, axis=0).repeat(ZOOM, axis=1)
        maps = np.zeros(self.layer_shapes[name][:3]) if seen is None else seen.maps[name]
        tiles, _ = panel_mosaic(maps, width=MAPS_WIDTH, height=self._maps_height())
        return colour(tiles, colour_table())

    def _write_state(self) -> None:
        if not self.state_file:
            return
        p = self.result.probabilities
        state = {
            "answer": self.answer.cget("text"), "status": self.status.cget("text"),
            "probabilities": None if p is None else [round(float(v), 6) for v in p],
            "class_names": self.recogniser.class_names,
            "recognitions": self.recognitions, "trigger": self.trigger,
            "strokes": len(self.drawing.strokes),
            "canvas": {"x": self.canvas.winfo_rootx(), "y": self.canvas.winfo_rooty(),
                       "side": self.canvas.winfo_width()},
            "caution": self.caution.cget("text"),
            "window": {"width": self.root.winfo_width(), "height": self.root.winfo_height()},
            "inside": {
                "open": self.inside_open, "updates": self.inside_updates,
                "explained": None if self.explained is None
                             else self.recogniser.class_names[self.explained],
                "checksum": self.checksum, "layers": self.layer_shapes,
                "panel_ms": list(self.panel_ms), "pen_up_ms": list(self.pen_up_ms),
                "button": _place(self.inside_button),
                "panel": _place(self.inside) if self.inside_open else None,
            },
        }  # fmt: skip
        with atomic_write(self.state_file) as tmp:
            with open(tmp, "w") as f:
                json.dump(state, f)


def _photo(width: int, height: int):
    """A Tk picture of the given size, grey, to be filled by :func:`_put`."""
    from PIL import Image, ImageTk

    return ImageTk.PhotoImage(Image.new("RGB", (width, height), GAP))


def _put(photo, rgb) -> None:
    """Show the RGB array ``rgb`` (H, W, 3), uint8, in ``photo``: one copy into Tk, where
    setting the pixels one colour string at a time would take tens of milliseconds."""
    from PIL import Image

    photo.paste(Image.fromarray(rgb))


def _place(widget) -> dict:
    """Where a widget is on the screen, in pixels."""
    return {"x": widget.winfo_rootx(), "y": widget.winfo_rooty(),
            "width": widget.winfo_width(), "height": widget.winfo_height()}  # fmt: skip


def run(model="mnist.h5", *, state_file=None) -> int:
    """Open the window and run until it is closed; 2 if no window can be opened.

    Examples
    --------
    Needs a display; returns when the window is closed:

    >>> run("mnist.h5")  # doctest: +SKIP
    0
    """
    try:
        import tkinter as tk
    except ImportError as err:
        print(f"error: the drawing app needs tkinter ({err}); install Python's Tk bindings "
              "(python3-tk on Debian and Ubuntu)", file=sys.stderr)  # fmt: skip
        return 2
    try:
        root = tk.Tk()
    except tk.TclError as err:
        print(f"error: cannot open a window ({err}); the drawing app needs a graphical "
              "display: run it on a desktop, or set DISPLAY", file=sys.stderr)  # fmt: skip
        return 2
    DigitApp(root, Recogniser(model), state_file=state_file)
    root.mainloop()
    return 0
