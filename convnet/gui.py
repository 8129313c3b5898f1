"""The drawing app's window: ``python -m convnet gui`` or ``python examples/gui.py``.

Not on the main reading path. Everything worth testing happens in :mod:`convnet.drawing`;
this module only shows it with Tk (tkinter, in Python's standard library): a canvas to draw
on, the predicted class (a digit, or a name such as "Sneaker" for a model trained on
Fashion-MNIST) and its confidence, a bar for each class's probability labelled with the
model's class names, the 28x28 image the model received, and Recognise and Clear buttons.
Docs chapter: "Draw a digit" (``docs/gui.md``).

The canvas stays square and fills the space it is given; strokes are kept in the drawing's
raster coordinates and redrawn at the new scale when the window is resized. Recognition
runs a moment after the pen stops moving (debounced), when the pen is lifted, and on demand.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from convnet.drawing import Drawing, Recogniser, Recognition
from convnet.files import atomic_write

__all__ = ["DigitApp", "run"]

INK, PAPER, BAR, BEST = "#000000", "#ffffff", "#9db4d0", "#2f6db5"
ZOOM = 5  # the 28x28 model input is shown at 140x140


class DigitApp:
    """The window's widgets and event handlers around a :class:`Drawing` and a :class:`Recogniser`.

    Parameters
    ----------
    root : tkinter.Tk
    recogniser : Recogniser
    state_file : str or Path, optional
        After every change, what the window shows (answer, status, bars, where the canvas is
        on the screen) is written there as JSON, atomically: for tests and scripts.
    delay_ms : int
        Recognise this long after the pen stops moving.
    """

    def __init__(self, root, recogniser: Recogniser, *, state_file=None, delay_ms: int = 150):
        import tkinter as tk  # here, not at the top: the module imports without Tk installed
        from tkinter import font as tkfont

        self.root, self.recogniser, self.state_file = root, recogniser, state_file
        self.drawing = Drawing()
        self.delay_ms, self.pending, self.recognitions, self.trigger = delay_ms, None, 0, None
        self.result = Recognition("", "")
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
        self.canvas.bind("<ButtonRelease-1>", lambda event: self._recognise_soon())

        panel = tk.Frame(root, padx=12, pady=8)
        panel.grid(row=0, column=1, sticky="ns")
        self.answer = tk.Label(panel, text="", font=("Helvetica", 64, "bold"), width=2)
        self.answer.pack()
        self.status = tk.Label(panel, text="", wraplength=260, justify="center")
        self.status.pack(fill="x")
        self.bars = tk.Canvas(panel, width=280, height=10 * 20 + 4, highlightthickness=0)
        self.label_font = tkfont.nametofont("TkDefaultFont")
        self.bars.pack(pady=8)
        tk.Label(panel, text="what the model sees (28x28)").pack()
        self.seen = tk.PhotoImage(width=28 * ZOOM, height=28 * ZOOM)
        tk.Label(panel, image=self.seen, borderwidth=1, relief="solid").pack(pady=4)
        buttons = tk.Frame(panel)
        buttons.pack(pady=8)
        tk.Button(buttons, text="Recognise (Enter)", command=self.recognise).pack(side="left")
        tk.Button(buttons, text="Clear (Esc)", command=self.clear).pack(side="left", padx=6)
        tk.Label(panel, text="Draw with the mouse. Enter or Space recognises; Esc or Delete "
                 "clears.", wraplength=260, foreground="#555555").pack()  # fmt: skip
        for key in ("<Return>", "<KP_Enter>", "<space>"):
            root.bind(key, lambda event: self.recognise("key"))
        for key in ("<Escape>", "<Delete>", "<BackSpace>"):
            root.bind(key, lambda event: self.clear("key"))
        self.canvas.bind("<Configure>", lambda event: self._write_state(), add="+")
        self.recognise("start")

    # -- drawing ---------------------------------------------------------------------------

    def _scale(self) -> float:
        """Screen pixels per raster pixel."""
        return max(self.canvas.winfo_width(), 1) / self.drawing.size

    def _pen_down(self, event) -> None:
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
        if self.pending is not None:
            self.root.after_cancel(self.pending)
            self.pending = None
        self.result = self.recogniser.recognise(self.drawing.raster())
        self.recognitions, self.trigger = self.recognitions + 1, trigger
        self._show(self.result)
        self._write_state()

    def _show(self, result: Recognition) -> None:
        # A digit in large type; a name such as "Ankle boot" smaller, to fit the panel.
        short = len(result.answer) <= 2
        self.answer.configure(text=result.answer, width=2 if short else 12,
                              font=("Helvetica", 64 if short else 24, "bold"))  # fmt: skip
        self.status.configure(text=result.status,
                              foreground="#b00020" if result.problem else "#000000")  # fmt: skip
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
        levels = np.round(np.clip(image, 0, 1) * 255).astype(int)
        big = np.repeat(np.repeat(levels, ZOOM, axis=0), ZOOM, axis=1)
        rows = ("{" + " ".join(f"#{v:02x}{v:02x}{v:02x}" for v in row) + "}" for row in big)
        self.seen.put(" ".join(rows), to=(0, 0))

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
        }  # fmt: skip
        with atomic_write(self.state_file) as tmp:
            with open(tmp, "w") as f:
                json.dump(state, f)


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
