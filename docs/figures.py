"""Draw the figures of the docs from convnet's own code.

    python docs/figures.py [FOLDER]        # default: docs/_figures

The Sphinx build (``docs/conf.py``) runs this on every build, so the pictures always show
what the code does: every number in them that the code computes is computed by it
(:func:`convnet.im2col.im2col`, :func:`convnet.im2col.col2im`, the convolution op), not
typed in.

- ``im2col.png``: a 4x4 image, the 3x3 grid of 2x2 patches a stride-1 convolution sees, and
  the 4x9 matrix im2col makes of them, one patch per column;
- ``im2col-stride2.png``: the same for a 5x5 image with a 3x3 kernel, stride 2 and one pixel
  of zero padding, where the padding shows up as zeros in the columns;
- ``col2im-overlap.png``: col2im of a matrix of ones, which counts how many patches cover each
  pixel (how many terms the backward pass adds into each entry of ``dx``), for a 3x3 kernel at
  strides 1 and 2 on a 7x7 image.

- ``sliding-window.png``: for the convolution chapter, a 3x3 filter sliding over a 5x5 digit
  "1" with stride 2 and one pixel of padding, three of its positions framed in colour and the
  output numbers they give, computed by :func:`convnet.ops.conv2d_forward_naive`.

And one for the chapter "One image on every core", from :func:`convnet.tuned.bands.plan_bands`:

- ``bands.png``: the seed-net's image and feature maps side by side, each shaded with the rows
  that each of two bands reads or computes, where they overlap too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from convnet.im2col import col2im, im2col
from convnet.nets import seed_net
from convnet.ops import conv2d_forward_naive
from convnet.shapes import resolve_padding, window_output_size
from convnet.tuned.bands import plan_bands

#: One colour per highlighted patch (matplotlib's default cycle, colour-blind friendly enough).
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c"]


def geometry(hw, kernel, stride, padding):
    """``(pads, out_hw)`` for a square kernel and stride, as the convolution works them out."""
    pads = resolve_padding(padding, hw, (kernel, kernel), (stride, stride))
    return pads, window_output_size(hw, (kernel, kernel), (stride, stride), pads)


def draw_grid(ax, values, title, fmt="{:g}", shade=None):
    """A matrix as a grid of cells with its numbers written in; ``shade`` (same shape, 0 to 1)
    greys cells, 1 being a mid grey that the numbers stay readable on."""
    rows, cols = values.shape
    ax.imshow(np.zeros_like(values) if shade is None else shade, cmap="Greys", vmin=0, vmax=2,
              extent=(-0.5, cols - 0.5, rows - 0.5, -0.5))  # fmt: skip
    for r in range(rows):
        for c in range(cols):
            ax.text(c, r, fmt.format(values[r, c]), ha="center", va="center", fontsize=9)
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="0.6", linewidth=0.6)
    ax.tick_params(which="both", length=0, labelsize=8)
    ax.set_title(title, fontsize=10)


def draw_padded(ax, image, pads, title):
    """A 2-D image with its zero padding shaded grey, ticks numbering the image's own rows and
    columns (negative in the padding)."""
    (top, bottom, left, right), size = pads, image.shape
    padded = np.pad(image, ((top, bottom), (left, right)))
    in_padding = np.pad(np.zeros(size), ((top, bottom), (left, right)), constant_values=0.5)
    draw_grid(ax, padded, title + (", zero-padded" if sum(pads) else ""), shade=in_padding)
    ax.set_xticks(range(padded.shape[1]), [str(i - left) for i in range(padded.shape[1])])
    ax.set_yticks(range(padded.shape[0]), [str(i - top) for i in range(padded.shape[0])])


def outline(ax, top, left, height, width, colour):
    """A coloured frame around cells ``[top, top + height) x [left, left + width)``."""
    ax.add_patch(Rectangle((left - 0.45, top - 0.45), width - 0.1, height - 0.1, fill=False,
                           edgecolor=colour, linewidth=2.5))  # fmt: skip


def im2col_figure(path, *, size, kernel, stride, padding, highlight):
    """The image, its patches and im2col's columns side by side, a few patches in colour."""
    x = np.arange(float(size * size)).reshape(1, 1, size, size)
    pads, (h_out, w_out) = geometry((size, size), kernel, stride, padding)
    cols = im2col(x, (kernel, kernel), (stride, stride), pads, (h_out, w_out))[0]

    fig = Figure(figsize=(3.2 + 0.55 * cols.shape[1], 3.6), layout="constrained")
    ax_img, ax_cols = fig.subplots(1, 2, width_ratios=[size + 2, cols.shape[1]])
    draw_padded(ax_img, x[0, 0], pads, f"image {size}x{size}")
    draw_grid(ax_cols, cols, f"im2col: {cols.shape[0]} x {cols.shape[1]}, one patch a column")
    ax_cols.set_xticks(range(cols.shape[1]), [f"{p // w_out},{p % w_out}" for p in
                                              range(cols.shape[1])], rotation=90)  # fmt: skip
    ax_cols.set_yticks(range(cols.shape[0]), [f"{i},{j}" for i in range(kernel)
                                              for j in range(kernel)])  # fmt: skip
    ax_cols.set_xlabel("output position (oh, ow)", fontsize=8)
    ax_cols.set_ylabel("kernel tap (i, j)", fontsize=8)
    for colour, (oh, ow) in zip(COLOURS, highlight, strict=False):
        outline(ax_img, oh * stride, ow * stride, kernel, kernel, colour)
        p = oh * w_out + ow
        ax_cols.add_patch(Rectangle((p - 0.45, -0.45), 0.9, cols.shape[0] - 0.1, fill=False,
                                    edgecolor=colour, linewidth=2.5))  # fmt: skip
    fig.suptitle(f"{kernel}x{kernel} kernel, stride {stride}, padding {pads[0]}: "
                 f"{h_out}x{w_out} output positions", fontsize=10)  # fmt: skip
    fig.savefig(path, dpi=110)


#: A 5x5 "1" for the sliding-window figure, and a filter that answers vertical strokes.
DIGIT = np.array([[0, 0, 9, 0, 0], [0, 9, 9, 0, 0], [0, 0, 9, 0, 0], [0, 0, 9, 0, 0],
                  [0, 9, 9, 9, 0]], dtype=float)  # fmt: skip
STROKE_FILTER = np.array([[-1, 2, -1]] * 3, dtype=float)


def sliding_window_figure(path, *, stride=2, padding=1, highlight=((0, 0), (0, 1), (2, 1))):
    """The filter, the image with the window at a few positions, and the output those
    positions give, every output number computed by ``conv2d_forward_naive``."""
    x, w = DIGIT[None, None], STROKE_FILTER[None, None]
    kh, kw = w.shape[2:]
    out, (_, _, _, _, pads) = conv2d_forward_naive(x, w, np.zeros(1), stride=stride,
                                                   padding=padding)  # fmt: skip
    out = out[0, 0]

    fig = Figure(figsize=(9.6, 3.6), layout="constrained")
    ax_w, ax_x, ax_out = fig.subplots(1, 3, width_ratios=[kw, x.shape[3] + 2, out.shape[1] + 1])
    draw_grid(ax_w, w[0, 0], f"filter w ({kh}x{kw})")
    ax_w.set_xticks([])
    ax_w.set_yticks([])
    draw_padded(ax_x, x[0, 0], pads, f"image {x.shape[2]}x{x.shape[3]}")
    draw_grid(ax_out, out, f"output {out.shape[0]}x{out.shape[1]}")
    ax_out.set_xticks([])
    ax_out.set_yticks([])
    for colour, (oh, ow) in zip(COLOURS, highlight, strict=False):
        top, left = oh * stride, ow * stride  # in padded coordinates
        outline(ax_x, top, left, kh, kw, colour)
        outline(ax_out, oh, ow, 1, 1, colour)
    oh, ow = highlight[0]
    window = np.pad(x[0, 0], ((pads[0], pads[1]), (pads[2], pads[3])))[
        oh * stride : oh * stride + kh, ow * stride : ow * stride + kw]  # fmt: skip
    ax_out.set_xlabel(f"out[{oh},{ow}] = sum(window * w) = {np.sum(window * w[0, 0]):g}",
                      fontsize=8, color=COLOURS[0])  # fmt: skip
    fig.suptitle(f"the window moves {stride} pixels at a time (stride {stride}, padding "
                 f"{pads[0]}); each position gives one output number", fontsize=10)  # fmt: skip
    fig.savefig(path, dpi=110)


def overlap_figure(path, *, size=7, kernel=3, strides=(1, 2)):
    """col2im of ones: how many patches cover each pixel, at each stride."""
    fig = Figure(figsize=(3.3 * len(strides), 3.5), layout="constrained")
    for ax, stride in zip(fig.subplots(1, len(strides)), strides, strict=True):
        pads, out_hw = geometry((size, size), kernel, stride, "valid")
        ones = np.ones((1, kernel * kernel, out_hw[0] * out_hw[1]))
        counts = col2im(ones, (1, 1, size, size), (kernel, kernel), (stride, stride), pads, out_hw)
        draw_grid(ax, counts[0, 0], f"stride {stride}: {out_hw[0]}x{out_hw[1]} patches",
                  shade=counts[0, 0] / (kernel * kernel))  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"col2im(ones): patches covering each pixel, {kernel}x{kernel} kernel on "
                 f"{size}x{size}", fontsize=10)  # fmt: skip
    fig.savefig(path, dpi=110)


def bands_figure(path, n_bands=2):
    """The seed-net's image and window layers' outputs, drawn to scale, with each band's rows."""
    plan = plan_bands(seed_net(seed=0, backend="tuned").layers, n_bands=n_bands)
    maps = [("image", plan.windows[0].input_shape)] + [(w.name, w.output_shape)
                                                       for w in plan.windows]  # fmt: skip
    fig = Figure(figsize=(8.5, 3.6), layout="constrained")
    ax = fig.subplots()
    left = 0
    for i, (name, (channels, height, width)) in enumerate(maps):
        ax.add_patch(Rectangle((left, 0), width, height, fill=False, edgecolor="0.3"))
        for band in range(n_bands):
            r0, r1 = plan.rows[band, i]
            ax.add_patch(Rectangle((left, r0), width, r1 - r0, color=COLOURS[band], alpha=0.35,
                                   linewidth=0))  # fmt: skip
            ax.text(left + width / 2, (r0 + r1) / 2, f"rows {r0}-{r1 - 1}", ha="center",
                    va="center", fontsize=8)  # fmt: skip
        ax.text(left + width / 2, -1, f"{name}\n{channels}x{height}x{width}", ha="center",
                va="bottom", fontsize=8)  # fmt: skip
        left += width + 6
    ax.set_xlim(-2, left - 4)
    ax.set_ylim(maps[0][1][1] + 1, -6)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.suptitle(f"{n_bands} bands of the seed-net, one per core: each computes its rows of "
                 "every map; both compute where they overlap", fontsize=10)  # fmt: skip
    fig.savefig(path, dpi=110)


def main(folder) -> list[Path]:
    """Write every figure into ``folder``; the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in ("im2col.png", "im2col-stride2.png",
                                        "col2im-overlap.png")]  # fmt: skip
    im2col_figure(paths[0], size=4, kernel=2, stride=1, padding="valid",
                  highlight=[(0, 0), (1, 2)])  # fmt: skip
    im2col_figure(paths[1], size=5, kernel=3, stride=2, padding=1, highlight=[(0, 0), (1, 2)])
    overlap_figure(paths[2])
    paths.append(folder / "bands.png")
    bands_figure(paths[3])
    paths.append(folder / "sliding-window.png")
    sliding_window_figure(paths[4])
    return paths


if __name__ == "__main__":
    for written in main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "_figures"):
        print(written)
