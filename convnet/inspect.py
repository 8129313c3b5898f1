"""Look inside a trained network: every layer's output, and which pixels a class depends on.

Beside the reading path, after **11. model**: it uses only what a model already has, the
layers' ``forward`` and ``backward``. Docs chapter: "What the network sees" (the maths of
saliency and Grad-CAM, and the pictures on the seed-net).

* :func:`activations`: what every layer computes for a batch, by layer name;
* :func:`saliency`: the gradient of one class's score with respect to the input pixels
  (Simonyan et al., 2013). The score is the logit, before the softmax, so that the other
  classes' scores do not enter it. It is one backward pass, started from a one-hot
  ``dL/dz`` instead of the loss's gradient::

      saliency[n] = d z[n, c] / d x[n]

* :func:`grad_cam`: where in the image a convolution layer's features speak for the class
  (Selvaraju et al., 2017). With ``A`` the layer's output ``(N, K, h, w)`` and ``z_c`` the
  class's score, each feature map ``k`` is weighted by the average of its gradient, and
  only positive evidence is kept::

      alpha[n, k] = mean over (i, j) of  d z[n, c] / d A[n, k, i, j]
      cam[n]      = relu( sum_k alpha[n, k] * A[n, k] )            shape (h, w)

Both run in inference mode (dropout off) and leave each layer's ``grads`` filled with the
gradients of the class score, not of a loss: train again, or call ``loss_and_gradients``,
before using them.
"""

from __future__ import annotations

import numpy as np

from convnet.layers import Conv2D, Dropout, Residual

__all__ = ["forward_all", "activations", "saliency", "look", "grad_cam", "conv_layers",
           "first_conv_layer", "last_conv_layer", "filters_figure", "feature_maps_figure",
           "mosaic", "explain_figure",
           "receptive_field", "strongest_patches", "patches_figure", "penultimate_features",
           "embed_2d", "embedding_figure"]


def forward_all(model, x, *, logits=True) -> list:
    """Every layer's output for ``x`` in inference mode, in order (with ``logits``, the last
    one before its softmax), each layer keeping what its backward pass needs."""
    x = np.asarray(x, dtype=model.dtype)
    outputs = []
    for layer in model.layers:
        x = layer.forward(x, training=False, logits=logits and layer is model.layers[-1])
        outputs.append(x)
    return outputs


def _one_hot_scores(scores, class_index):
    """The classes asked for (the predicted ones when ``class_index`` is None), shape (N,),
    and the one-hot ``d score / d logits`` that picks them, shape (N, K)."""
    n, k = scores.shape
    if class_index is None:
        classes = scores.argmax(axis=1)
    else:
        classes = np.broadcast_to(np.asarray(class_index, dtype=np.int64), (n,)).copy()
        if classes.min() < 0 or classes.max() >= k:
            raise ValueError(f"class_index must be in 0..{k - 1}, got {class_index!r}")
    pick = np.zeros_like(scores)
    pick[np.arange(n), classes] = 1.0
    return classes, pick


def activations(model, x, *, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Every layer's output for the batch ``x``, in inference mode, by layer name.

    The last layer's entry is its output as ``predict`` gives it (probabilities, for a
    softmax). Shapes are ``(N, *layer.output_shape)``. The images go through ``batch_size``
    at a time.

    Examples
    --------
    >>> from convnet.nets import small_net
    >>> model = small_net(seed=0)
    >>> maps = activations(model, np.zeros((2, 1, 28, 28), np.float32))
    >>> {name: a.shape for name, a in maps.items()}["conv2d"]
    (2, 8, 24, 24)
    >>> np.allclose(maps["dense"].sum(axis=1), 1.0)          # probabilities
    True
    """
    x = np.asarray(x)
    # In batches, as predict does: the im2col matrix of a whole large batch would be
    # allocated afresh, and its page faults cost more than the arithmetic.
    batches = [forward_all(model, x[i : i + batch_size], logits=False)
               for i in range(0, len(x), batch_size)]  # fmt: skip
    return {layer.name: np.concatenate([outputs[j] for outputs in batches])
            for j, layer in enumerate(model.layers)}  # fmt: skip


def saliency(model, x, class_index=None):
    """The gradient of a class's score (its logit) with respect to each input pixel.

    Parameters
    ----------
    model : Sequential
    x : ndarray, shape (N, *model.input_shape)
    class_index : int or array of shape (N,), optional
        The class of each image to explain; left out, the class the model predicts.

    Returns
    -------
    gradient : ndarray, shape of ``x``
        ``d z[n, c] / d x[n]``: large where a small change of the pixel moves the score most.
        Pictures usually show its absolute value (largest over channels).
    classes : ndarray of int, shape (N,)

    Examples
    --------
    >>> from convnet.layers import Dense, Flatten
    >>> from convnet.model import Sequential
    >>> model = Sequential([Flatten(), Dense(2, activation="softmax")], input_shape=(1, 1, 3),
    ...                    dtype="float64", seed=0)
    >>> model.layers[1].params["kernel"][:] = [[1, 0], [2, 0], [3, 5]]   # z0 = x0 + 2 x1 + 3 x2
    >>> gradient, classes = saliency(model, np.ones((1, 1, 1, 3)), class_index=0)
    >>> gradient.ravel(), classes                            # a linear score: its weights
    (array([1., 2., 3.]), array([0]))
    """
    _, gradient, _, classes = look(model, x, class_index)
    return gradient, classes


def look(model, x, class_index=None, cam_layer=None):
    """Saliency and Grad-CAM from one forward and one backward pass: what :func:`saliency`,
    :func:`grad_cam` and the drawing app's panel share.

    The backward pass starts from the one-hot ``d z_c / d z`` and runs down to the input;
    on the way it passes ``cam_layer``'s output ``A``, where the gradient it carries is
    ``d z_c / d A``, the one Grad-CAM averages.

    Parameters
    ----------
    model : Sequential
    x : ndarray, shape (N, *model.input_shape)
    class_index : int or array of shape (N,), optional
    cam_layer : Layer, optional
        A Conv2D layer of the model; left out, no Grad-CAM.

    Returns
    -------
    outputs : list of ndarray
        Every layer's output (the last one's before its softmax), as :func:`forward_all`.
    gradient : ndarray, shape of ``x``
        The saliency, ``d z[n, c] / d x[n]``.
    cam : ndarray, shape (N, h, w), or None
    classes : ndarray of int, shape (N,)
    """
    outputs = forward_all(model, x)
    classes, d = _one_hot_scores(outputs[-1], class_index)
    cam = None
    for layer, out in zip(reversed(model.layers), reversed(outputs), strict=True):
        if layer is cam_layer:
            alpha = d.mean(axis=(2, 3))  # (N, K): global average of d z_c / d A
            cam = np.maximum(np.einsum("nk,nkhw->nhw", alpha, out), 0.0)
        d = layer.backward(d)
    return outputs, d, cam, classes


def conv_layers(model) -> list:
    """The model's layers that compute feature maps with kernels, in order (none: an empty
    list): its :class:`~convnet.layers.Conv2D` layers, and its
    :class:`~convnet.layers.Residual` blocks of convolutions, whose output is a block's
    maps."""
    return [layer for layer in model.layers
            if isinstance(layer, Conv2D)
            or (isinstance(layer, Residual) and len(layer.output_shape) == 3)]  # fmt: skip


def _convs(model):
    """:func:`conv_layers`, refused when there are none: there is nothing to explain."""
    convs = conv_layers(model)
    if not convs:
        raise ValueError(f"{model.name}: no Conv2D layer to explain")
    return convs


def first_conv_layer(model):
    """The model's first :class:`~convnet.layers.Conv2D`: its filters look at the pixels."""
    convs = [layer for layer in _convs(model) if isinstance(layer, Conv2D)]
    if not convs:
        raise ValueError(f"{model.name}: no Conv2D layer outside a block to show the filters of")
    return convs[0]


def last_conv_layer(model):
    """The model's last layer of :func:`conv_layers`, the usual one for :func:`grad_cam`."""
    return _convs(model)[-1]


def grad_cam(model, x, class_index=None, layer=None):
    """Grad-CAM heat maps: where a convolution layer's features speak for the class.

    Parameters
    ----------
    model : Sequential
    x : ndarray, shape (N, *model.input_shape)
    class_index : int or array of shape (N,), optional
        As for :func:`saliency`.
    layer : str or Layer, optional
        A Conv2D layer of the model (or its name); left out, the last one.

    Returns
    -------
    cam : ndarray, shape (N, h, w)
        ``relu(sum_k alpha_k A_k)`` at the layer's resolution, ``alpha_k`` the mean gradient
        of the score over feature map ``k``. Not normalised.
    classes : ndarray of int, shape (N,)

    Examples
    --------
    A 1x1 convolution that copies the image into one map, then a dense layer that counts
    the left column for class 0: the map lights up the left column.

    >>> from convnet.layers import Conv2D, Dense, Flatten
    >>> from convnet.model import Sequential
    >>> model = Sequential([Conv2D(1, 1, use_bias=False), Flatten(), Dense(2)],
    ...                    input_shape=(1, 2, 2), dtype="float64", seed=0)
    >>> model.layers[0].params["kernel"][:] = 1.0
    >>> model.layers[2].params["kernel"][:] = [[1, 0], [0, 0], [1, 0], [0, 0]]
    >>> model.layers[2].params["bias"][:] = 0.0
    >>> cam, _ = grad_cam(model, np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), class_index=0)
    >>> cam[0]                                # alpha = mean of [1, 0, 1, 0] = 0.5
    array([[0.5, 1. ],
           [1.5, 2. ]])
    """
    layer = last_conv_layer(model) if layer is None else _layer(model, layer)
    _, _, cam, classes = look(model, x, class_index, cam_layer=layer)
    return cam, classes


# -- pictures ---------------------------------------------------------------------------------


def _grid(n, columns):
    rows = -(-n // columns)
    return rows, min(n, columns)


def filters_figure(model, layer=None, *, before=None, columns=8):
    """The kernels of a convolution layer as little images, one per filter, shape (KH, KW)
    each (for a layer with several input channels, their mean over the channels).

    Parameters
    ----------
    model : Sequential
    layer : str or Layer, optional
        A Conv2D layer or its name; left out, the first one, whose filters look at pixels.
    before : ndarray, shape (F, C, KH, KW), optional
        The same layer's kernel earlier (a copy taken before training): drawn above, on the
        same colour scale, so that the two can be compared.
    columns : int

    Returns
    -------
    Figure
        ``figure.axes[i].images[0]`` holds filter ``i`` (after ``F`` panels of ``before``,
        when it is given).
    """
    from matplotlib.figure import Figure

    layer = first_conv_layer(model) if layer is None else _layer(model, layer)
    if not isinstance(layer, Conv2D):
        raise ValueError(f"{layer.name} is not a Conv2D layer")
    kernel = layer.params["kernel"]
    sets = [("", kernel)] if before is None else [("before training", np.asarray(before)),
                                                  ("after training", kernel)]  # fmt: skip
    kernels = [kernel.mean(axis=1) for _, kernel in sets]  # (F, KH, KW): channels averaged
    limit = max(float(np.abs(k).max()) for k in kernels) or 1.0
    rows, cols = _grid(len(kernels[0]), columns)
    fig = Figure(figsize=(1.1 * cols, (1.2 * rows + 0.4) * len(sets)), layout="constrained")
    for sub, (label, _), these in zip(np.atleast_1d(fig.subfigures(len(sets), 1)), sets,
                                      kernels, strict=True):  # fmt: skip
        for i, ax in enumerate(sub.subplots(rows, cols, squeeze=False).ravel()):
            ax.set_axis_off()
            if i < len(these):
                ax.imshow(these[i], cmap="RdBu_r", vmin=-limit, vmax=limit)
                ax.set_title(str(i), fontsize=8)
        if label:
            sub.suptitle(label, fontsize=9)
    fig.suptitle(f"{layer.name}: {len(kernels[0])} filters of {kernels[0].shape[1]}x"
                 f"{kernels[0].shape[2]} (red positive, blue negative)", fontsize=10)  # fmt: skip
    return fig


def receptive_field(model, layer) -> tuple:
    """Which input pixels one output position of ``layer`` sees: for output ``(i, j)``, the
    rows ``i * jump_h - pad_top ... + size_h - 1`` and the columns likewise.

    Composed layer by layer from the input: a window of ``k`` pixels with stride ``s`` on a
    map whose positions are ``jump`` input pixels apart and ``size`` wide sees
    ``size + (k - 1) * jump`` input pixels, and its positions are ``jump * s`` apart.
    Layers without a window (activations, dropout) change nothing. A Residual block's field
    is that of its block's layers: the shortcut, a 1x1 window, sees less.

    Returns
    -------
    size : (int, int)
    jump : (int, int)
    start : (int, int)
        The input row and column of output (0, 0)'s top-left pixel (negative in the padding).

    Examples
    --------
    >>> from convnet.nets import seed_net
    >>> receptive_field(seed_net(seed=0), "conv2d_1")     # two 3x3 convolutions: 5x5
    ((5, 5), (1, 1), (0, 0))
    >>> receptive_field(seed_net(seed=0), "max_pooling2d")
    ((6, 6), (2, 2), (0, 0))
    """
    from convnet.layers import _Pool2D
    from convnet.shapes import resolve_padding

    def along_blocks(layers):  # a Residual's block layers, then the block itself
        for one in layers:
            if isinstance(one, Residual):
                yield from along_blocks(one.layers)
            yield one

    target = _layer(model, layer)
    size, jump, start = [1, 1], [1, 1], [0, 0]
    for one in along_blocks(model.layers):
        if isinstance(one, (Conv2D, _Pool2D)):
            window = one.kernel_size if isinstance(one, Conv2D) else one.pool_size
            pads = resolve_padding(one.padding, one.input_shape[1:], window, one.strides)
            for axis in range(2):
                start[axis] -= pads[2 * axis] * jump[axis]
                size[axis] += (window[axis] - 1) * jump[axis]
                jump[axis] *= one.strides[axis]
        if one is target:
            return tuple(size), tuple(jump), tuple(start)
    raise ValueError(f"{model.name}: no layer {target.name!r}")


def strongest_patches(model, layer, x, *, top: int = 6):
    """For every channel of ``layer``, the ``top`` input patches (over the images ``x`` and
    every position) on which it responds most: what the channel has learnt to detect.

    Parameters
    ----------
    model : Sequential
    layer : str or Layer
        A layer whose output is ``(K, h, w)`` feature maps.
    x : ndarray, shape (N, *model.input_shape)
    top : int

    Returns
    -------
    patches : ndarray, shape (K, top, C, size_h, size_w)
        The patches (zeros where a field reaches into the padding), strongest first.
    values : ndarray, shape (K, top)
        The channel's response to each.
    where : ndarray of int, shape (K, top, 3)
        Each patch's image index and output position ``(n, i, j)``.
    """
    layer = _layer(model, layer)
    maps = activations(model, x)[layer.name]
    if maps.ndim != 4:
        raise ValueError(f"{layer.name} outputs shape {maps.shape[1:]}, not feature maps")
    n, k, h, w = maps.shape
    (size_h, size_w), (jump_h, jump_w), (top_h, top_w) = receptive_field(model, layer)
    x = np.asarray(x)
    # Padded once by the most a field can reach outside the image, so that slicing works.
    pad_h, pad_w = max(0, -top_h), max(0, -top_w)
    extra_h = max(0, top_h + (h - 1) * jump_h + size_h - x.shape[2])
    extra_w = max(0, top_w + (w - 1) * jump_w + size_w - x.shape[3])
    padded = np.pad(x, ((0, 0), (0, 0), (pad_h, pad_h + extra_h), (pad_w, pad_w + extra_w)))
    flat = maps.transpose(1, 0, 2, 3).reshape(k, -1)  # (K, N*h*w)
    best = np.argsort(-flat, axis=1, kind="stable")[:, :top]
    patches = np.zeros((k, top, x.shape[1], size_h, size_w), dtype=x.dtype)
    where = np.zeros((k, top, 3), dtype=np.int64)
    for channel in range(k):
        for rank, index in enumerate(best[channel]):
            image, i, j = np.unravel_index(index, (n, h, w))
            row, col = top_h + i * jump_h + pad_h, top_w + j * jump_w + pad_w
            patches[channel, rank] = padded[image, :, row : row + size_h, col : col + size_w]
            where[channel, rank] = image, i, j
    return patches, np.take_along_axis(flat, best, axis=1), where


def patches_figure(model, layer, x, *, top: int = 6, channels: int = 16):
    """:func:`strongest_patches` of the first ``channels`` channels of ``layer``, one row per
    channel: how to see what a deeper layer's filters detect, whose weights, spread over
    many input channels, make no picture of their own. ``figure.axes[c * top + r]`` shows
    channel ``c``'s patch of rank ``r`` (channels averaged)."""
    from matplotlib.figure import Figure

    layer = _layer(model, layer)
    patches, values, _ = strongest_patches(model, layer, x, top=top)
    patches, values = patches[:channels], values[:channels]
    fig = Figure(figsize=(0.9 * top + 0.6, 0.9 * len(patches) + 0.6), layout="constrained")
    axes = fig.subplots(len(patches), top, squeeze=False)
    for c, row in enumerate(axes):
        for r, ax in enumerate(row):
            ax.imshow(patches[c, r].mean(axis=0), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_ylabel(str(c), rotation=0, ha="right", va="center", fontsize=8)
    size = patches.shape[-2:]
    fig.suptitle(f"{layer.name}: the {top} {size[0]}x{size[1]} patches of {len(x):,} images "
                 f"each channel answers most", fontsize=9)  # fmt: skip
    return fig


def feature_maps_figure(model, image, layer=None, *, columns=8):
    """The feature maps one layer computes for one image ``(C, H, W)``: one panel per
    channel of its output. ``figure.axes[i].images[0]`` holds channel ``i``."""
    from matplotlib.figure import Figure

    layer = last_conv_layer(model) if layer is None else _layer(model, layer)
    maps = activations(model, np.asarray(image)[None])[layer.name][0]
    if maps.ndim != 3:
        raise ValueError(f"{layer.name} outputs shape {maps.shape[1:]}, not feature maps")
    rows, cols = _grid(len(maps), columns)
    fig = Figure(figsize=(1.1 * cols, 1.2 * rows + 0.4), layout="constrained")
    for i, ax in enumerate(fig.subplots(rows, cols, squeeze=False).ravel()):
        ax.set_axis_off()
        if i < len(maps):
            ax.imshow(maps[i], cmap="viridis")
            ax.set_title(str(i), fontsize=8)
    fig.suptitle(f"{layer.name}: {len(maps)} feature maps of {maps.shape[1]}x{maps.shape[2]}",
                 fontsize=10)  # fmt: skip
    return fig


def mosaic(maps, columns=None, gap: int = 1) -> np.ndarray:
    """Feature maps ``(K, h, w)`` tiled into one image, row by row, NaN in the gaps (drawn as
    background). ``columns`` defaults to the power of two nearest ``sqrt(2 K)`` on a log
    scale: 4 for 8 maps, 8 for 16 or 32, 16 for 64, so that a layer's mosaic is about twice
    as wide as it is tall.

    Returns
    -------
    ndarray, shape (rows * (h + gap) - gap, columns * (w + gap) - gap)

    Examples
    --------
    >>> mosaic(np.arange(3 * 2 * 2.0).reshape(3, 2, 2), columns=2)
    array([[ 0.,  1., nan,  4.,  5.],
           [ 2.,  3., nan,  6.,  7.],
           [nan, nan, nan, nan, nan],
           [ 8.,  9., nan, nan, nan],
           [10., 11., nan, nan, nan]])
    """
    maps = np.asarray(maps, dtype=np.float64)
    k, h, w = maps.shape
    if columns is None:
        columns = 2 ** int(np.log2(np.sqrt(2 * k)) + 0.5)
    columns = max(1, min(columns, k))
    rows = -(-k // columns)
    tiled = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan)
    for i, one in enumerate(maps):
        r, c = divmod(i, columns)
        tiled[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = one
    return tiled


def explain_figure(model, image, class_index=None):
    """Everything about one prediction in one figure.

    Top row: the image as the model receives it, the probability of every class, the
    saliency (largest absolute gradient over channels) over the image, and the Grad-CAM of
    the last convolution over the image. Below, one row per Conv2D layer: its feature maps
    for this image (:func:`mosaic`, one colour scale per layer, so weak maps look weak).

    Parameters
    ----------
    model : Sequential
    image : ndarray, shape model.input_shape, (C, H, W)
    class_index : int, optional
        The class to explain; left out, the predicted one.

    Returns
    -------
    Figure
        ``figure.explained`` is a dict of the arrays drawn: ``probabilities`` (K,),
        ``class_index``, ``saliency`` (H, W), ``grad_cam`` (h, w) and ``feature_maps``
        (layer name -> (K, h, w)).
    """
    from matplotlib.figure import Figure

    x = np.asarray(image, dtype=model.dtype)[None]
    convs = _convs(model)
    outputs = activations(model, x)  # the probabilities as predict gives them, and the maps
    probabilities = outputs[model.layers[-1].name][0]
    _, gradient, cam, classes = look(model, x, class_index, cam_layer=convs[-1])
    k = int(classes[0])
    names = model.class_names
    picture = x[0].mean(axis=0)
    height, width = picture.shape
    salient = np.abs(gradient[0]).max(axis=0)

    fig = Figure(figsize=(11, 3.0 + 2.6 * len(convs)), layout="constrained")
    top, *rows = fig.subfigures(1 + len(convs), 1, height_ratios=[3.0] + [2.6] * len(convs))
    ax_x, ax_p, ax_s, ax_c = top.subplots(1, 4, width_ratios=[1, 1.3, 1, 1])
    ax_x.imshow(picture, cmap="gray")
    ax_x.set_title(f"input, {height}x{width}\n(as the model sees it)", fontsize=9)
    bars = ax_p.barh(range(len(probabilities)), probabilities, color="#9db4d0")
    bars[int(probabilities.argmax())].set_color("#2f6db5")
    ax_p.set_yticks(range(len(probabilities)), names, fontsize=8)
    ax_p.invert_yaxis()
    ax_p.set_xlim(0, 1)
    ax_p.set_xlabel("probability", fontsize=8)
    best = int(probabilities.argmax())
    ax_p.set_title(f"{names[best]!r}, {probabilities[best]:.1%}", fontsize=9)
    ax_s.imshow(picture, cmap="gray")
    ax_s.imshow(salient, cmap="hot", alpha=0.6)
    ax_s.set_title(f"saliency for {names[k]!r}\n|d score / d pixel|", fontsize=9)
    ax_c.imshow(picture, cmap="gray")
    ax_c.imshow(cam[0], cmap="jet", alpha=0.45, extent=(-0.5, width - 0.5, height - 0.5, -0.5),
                interpolation="bilinear")  # fmt: skip
    ax_c.set_title(f"Grad-CAM for {names[k]!r}\non {convs[-1].name}, {cam.shape[1]}x"
                   f"{cam.shape[2]}", fontsize=9)  # fmt: skip
    for ax in (ax_x, ax_s, ax_c):
        ax.set_axis_off()
    feature_maps = {}
    for sub, layer in zip(rows, convs, strict=True):
        maps = outputs[layer.name][0]
        feature_maps[layer.name] = maps
        ax = sub.subplots()
        ax.imshow(mosaic(maps), cmap="viridis", vmin=0 if maps.min() >= 0 else None)
        ax.set_axis_off()
        ax.set_title(f"{layer.name}: {len(maps)} feature maps of {maps.shape[1]}x"
                     f"{maps.shape[2]}", fontsize=9)  # fmt: skip
    fig.explained = {"probabilities": probabilities, "class_index": k, "saliency": salient,
                     "grad_cam": cam[0], "feature_maps": feature_maps}  # fmt: skip
    return fig


def _layer(model, layer):
    """A layer of ``model``, given as itself or by name."""
    if not isinstance(layer, str):
        return layer
    named = [candidate for candidate in model.layers if candidate.name == layer]
    if not named:
        raise ValueError(f"{model.name}: no layer named {layer!r}")
    return named[0]


def penultimate_features(model, x) -> np.ndarray:
    """What the last layer receives for each image: the features it classifies, (N, D)."""
    if len(model.layers) < 2:
        raise ValueError(f"{model.name}: one layer only, so no features before it")
    features = activations(model, x)[model.layers[-2].name]
    return features.reshape(len(features), -1)


def embed_2d(features, method="pca", *, seed=0) -> np.ndarray:
    """Two coordinates per row of ``features`` (N, D): the first two principal components
    (``'pca'``: the centred rows projected on the two directions of largest variance, from
    the SVD), or a t-SNE map (``'tsne'``, scikit-learn's, seeded), shape (N, 2).

    Examples
    --------
    Three points on a line in 3-D: the first component runs along it, the second sees
    nothing (a component's sign is arbitrary, hence ``abs``).

    >>> points = np.array([[0.0, 1, 1], [1, 2, 1], [2, 3, 1]])
    >>> np.abs(embed_2d(points)).round(6) + 0.0
    array([[1.414214, 0.      ],
           [0.      , 0.      ],
           [1.414214, 0.      ]])
    """
    features = np.asarray(features, dtype=np.float64)
    if method == "pca":
        centred = features - features.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        return centred @ vt[:2].T
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (len(features) - 1) / 3)
        return TSNE(n_components=2, perplexity=perplexity, init="pca",
                    random_state=seed).fit_transform(features)  # fmt: skip
    raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")


def embedding_figure(model, x, y, method="pca", *, seed=0):
    """The images' penultimate features in two dimensions (:func:`embed_2d`), one colour per
    true class: well-trained features fall into one cluster per class.

    ``method`` is ``'pca'``, ``'tsne'``, or a list of them for panels side by side;
    ``figure.axes[m].collections[k]`` holds the points of class ``k`` in panel ``m``.
    """
    from matplotlib.figure import Figure

    methods = [method] if isinstance(method, str) else list(method)
    features = penultimate_features(model, x)
    y = np.asarray(y)
    fig = Figure(figsize=(6.0 * len(methods) + 0.4, 5.2), layout="constrained")
    names = model.class_names
    for ax, how in zip(np.atleast_1d(fig.subplots(1, len(methods))), methods, strict=True):
        points = embed_2d(features, how, seed=seed)
        for k, name in enumerate(names):
            mine = points[y == k]
            ax.scatter(mine[:, 0], mine[:, 1], s=5, label=name, color=f"C{k % 10}")
        ax.set_title("PCA (the two directions of largest variance)" if how == "pca" else
                     "t-SNE (neighbours kept near)", fontsize=10)  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
    ax.legend(markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    # Named after the layer that computes them: a Dropout before the last layer passes its
    # input through unchanged at inference.
    source = next(layer for layer in reversed(model.layers[:-1])
                  if not isinstance(layer, Dropout) or layer is model.layers[0])  # fmt: skip
    fig.suptitle(f"{source.name}'s {features.shape[1]} features of "
                 f"{len(features):,} images, in two dimensions", fontsize=11)  # fmt: skip
    return fig
