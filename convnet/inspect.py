"""Look inside a trained network: every layer's output, and which pixels a class depends on.

Beside the reading path, after **11. model**: it uses only what a model already has, the
layers' ``forward`` and ``backward``.

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

from convnet.layers import Conv2D

__all__ = ["activations", "saliency", "grad_cam", "last_conv_layer", "filters_figure",
           "feature_maps_figure", "explain_figure", "penultimate_features", "embed_2d",
           "embedding_figure"]


def _forward(model, x, *, logits=True):
    """Every layer's output for ``x`` in inference mode (with ``logits``, the last one before
    its softmax), each layer keeping what its backward pass needs."""
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


def activations(model, x) -> dict[str, np.ndarray]:
    """Every layer's output for the batch ``x``, in inference mode, by layer name.

    The last layer's entry is its output as ``predict`` gives it (probabilities, for a
    softmax). Shapes are ``(N, *layer.output_shape)``.

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
    outputs = _forward(model, x, logits=False)
    return {layer.name: out for layer, out in zip(model.layers, outputs, strict=True)}


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
    scores = _forward(model, x)[-1]
    classes, d = _one_hot_scores(scores, class_index)
    for layer in reversed(model.layers):
        d = layer.backward(d)
    return d, classes


def last_conv_layer(model):
    """The model's last :class:`~convnet.layers.Conv2D`, the usual one for :func:`grad_cam`."""
    convs = [layer for layer in model.layers if isinstance(layer, Conv2D)]
    if not convs:
        raise ValueError(f"{model.name}: no Conv2D layer to explain")
    return convs[-1]


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
    index = model.layers.index(layer)
    outputs = _forward(model, x)
    classes, d = _one_hot_scores(outputs[-1], class_index)
    for later in reversed(model.layers[index + 1 :]):
        d = later.backward(d)
    features = outputs[index]  # (N, K, h, w), after the layer's activation
    alpha = d.mean(axis=(2, 3))  # (N, K): global average of the gradient
    cam = np.einsum("nk,nkhw->nhw", alpha, features)
    return np.maximum(cam, 0.0), classes


# -- pictures ---------------------------------------------------------------------------------


def _grid(n, columns):
    rows = -(-n // columns)
    return rows, min(n, columns)


def filters_figure(model, layer=None, *, columns=8):
    """The kernels of a convolution layer as little images: one per filter for the first
    layer (its input has one channel, or the mean over channels), shape (KH, KW) each.

    Returns the matplotlib ``Figure``; ``figure.axes[i].images[0]`` holds filter ``i``.
    """
    from matplotlib.figure import Figure

    layer = last_conv_layer(model) if layer is None else _layer(model, layer)
    if not isinstance(layer, Conv2D):
        raise ValueError(f"{layer.name} is not a Conv2D layer")
    kernels = layer.params["kernel"].mean(axis=1)  # (F, KH, KW): channels averaged
    limit = float(np.abs(kernels).max()) or 1.0
    rows, cols = _grid(len(kernels), columns)
    fig = Figure(figsize=(1.1 * cols, 1.2 * rows + 0.4), layout="constrained")
    for i, ax in enumerate(fig.subplots(rows, cols, squeeze=False).ravel()):
        ax.set_axis_off()
        if i < len(kernels):
            ax.imshow(kernels[i], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(str(i), fontsize=8)
    fig.suptitle(f"{layer.name}: {len(kernels)} filters of {kernels.shape[1]}x"
                 f"{kernels.shape[2]} (red positive, blue negative)", fontsize=10)  # fmt: skip
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


def explain_figure(model, image, class_index=None):
    """One image, its saliency (largest absolute gradient over channels) and its Grad-CAM
    on the last convolution, drawn over the image at the image's size.

    ``figure.axes[1].images[0]`` holds the saliency ``(H, W)``; ``figure.axes[2].images[1]``
    the Grad-CAM map at the layer's resolution, stretched over the image.
    """
    from matplotlib.figure import Figure

    x = np.asarray(image)[None]
    gradient, classes = saliency(model, x, class_index)
    cam, _ = grad_cam(model, x, classes)
    name = model.class_names[int(classes[0])]
    height, width = x.shape[2:]
    fig = Figure(figsize=(7.5, 2.8), layout="constrained")
    ax_x, ax_s, ax_c = fig.subplots(1, 3)
    ax_x.imshow(x[0].mean(axis=0), cmap="gray")
    ax_x.set_title("input", fontsize=9)
    ax_s.imshow(np.abs(gradient[0]).max(axis=0), cmap="hot")
    ax_s.set_title(f"saliency for {name!r}", fontsize=9)
    ax_c.imshow(x[0].mean(axis=0), cmap="gray")
    ax_c.imshow(cam[0], cmap="jet", alpha=0.5, extent=(-0.5, width - 0.5, height - 0.5, -0.5),
                interpolation="bilinear")  # fmt: skip
    ax_c.set_title(f"Grad-CAM for {name!r}", fontsize=9)
    for ax in (ax_x, ax_s, ax_c):
        ax.set_axis_off()
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
    ``figure.axes[0].collections[k]`` holds the points of class ``k``."""
    from matplotlib.figure import Figure

    points = embed_2d(penultimate_features(model, x), method, seed=seed)
    y = np.asarray(y)
    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    ax = fig.subplots()
    names = model.class_names
    for k, name in enumerate(names):
        mine = points[y == k]
        ax.scatter(mine[:, 0], mine[:, 1], s=6, label=name, color=f"C{k % 10}")
    ax.legend(markerscale=3, fontsize=8, loc="best")
    ax.set_title(f"{model.layers[-2].name}'s features of {len(points):,} images, "
                 f"{'PCA' if method == 'pca' else 't-SNE'}", fontsize=10)  # fmt: skip
    return fig
