"""convnet.inspect: layer outputs, saliency and Grad-CAM, checked against finite differences
and hand-worked cases."""

import numpy as np
import pytest
from test_io import every_layer_net

from convnet import layers as L
from convnet.gradcheck import numerical_gradient, rel_error
from convnet.inspect import activations, grad_cam, last_conv_layer, mosaic, saliency
from convnet.model import Sequential


def scores_of(model, x):
    """The logits, in inference mode: the function saliency differentiates."""
    return model.forward(x, logits=True)


@pytest.mark.parametrize("class_index", [None, 2, [0, 3, 1]])
def test_saliency_is_the_numerical_gradient_of_the_class_score(class_index):
    model = every_layer_net(dtype="float64")
    x = np.random.default_rng(0).standard_normal((3, *model.input_shape))
    gradient, classes = saliency(model, x, class_index)
    if class_index is None:
        assert (classes == model.predict(x).argmax(axis=1)).all()
    pick = np.zeros((3, model.output_shape[0]))
    pick[np.arange(3), classes] = 1.0
    expected = numerical_gradient(lambda v: scores_of(model, v), x.copy(), pick)
    assert rel_error(gradient, expected) < 1e-6


def test_grad_cam_weights_are_the_mean_gradient_of_the_feature_maps():
    """cam = relu(sum_k alpha_k A_k), alpha_k the mean over the map of d score / d A_k, with
    that gradient taken numerically through the layers after the convolution."""
    model = every_layer_net(dtype="float64")
    x = np.random.default_rng(1).standard_normal((2, *model.input_shape))
    conv = model.layers[0]
    cam, classes = grad_cam(model, x, layer=conv.name)

    features = conv.forward(x, training=False)
    tail = model.layers[1:]

    def scores_from(a):
        for layer in tail:
            a = layer.forward(a, training=False, logits=layer is tail[-1])
        return a

    pick = np.zeros((2, model.output_shape[0]))
    pick[np.arange(2), classes] = 1.0
    d_features = numerical_gradient(scores_from, features.copy(), pick)
    alpha = d_features.mean(axis=(2, 3))
    expected = np.maximum(np.einsum("nk,nkhw->nhw", alpha, features), 0.0)
    assert cam.shape == (2, *conv.output_shape[1:])
    assert rel_error(cam, expected) < 1e-6


def test_grad_cam_takes_the_last_convolution_by_default():
    model = every_layer_net(dtype="float64")
    assert last_conv_layer(model) is model.layers[3]
    x = np.random.default_rng(2).standard_normal((1, *model.input_shape))
    default, _ = grad_cam(model, x)
    named, _ = grad_cam(model, x, layer=model.layers[3].name)
    np.testing.assert_array_equal(default, named)


def test_activations_are_every_layer_in_order_with_the_predicted_probabilities_last():
    model = every_layer_net(dtype="float64")
    x = np.random.default_rng(3).standard_normal((4, *model.input_shape))
    maps = activations(model, x)
    assert list(maps) == [layer.name for layer in model.layers]
    for layer in model.layers:
        assert maps[layer.name].shape == (4, *layer.output_shape)
    np.testing.assert_allclose(maps[model.layers[-1].name], model.predict(x), rtol=1e-12)


def test_activations_in_batches_are_the_activations_of_the_whole():
    from convnet.nets import seed_net

    model = seed_net(seed=0)
    x = np.random.default_rng(10).random((7, 1, 28, 28), np.float32)
    whole = activations(model, x, batch_size=7)
    for name, out in activations(model, x, batch_size=3).items():
        np.testing.assert_allclose(out, whole[name], rtol=1e-5, atol=1e-6)


def test_bad_requests_are_refused():
    model = every_layer_net(dtype="float64")
    x = np.zeros((1, *model.input_shape))
    with pytest.raises(ValueError, match="class_index must be in 0..3, got 7"):
        saliency(model, x, class_index=7)
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        grad_cam(model, x, layer="nope")
    dense_only = Sequential([L.Flatten(), L.Dense(3)], input_shape=(1, 2, 2), seed=0)
    with pytest.raises(ValueError, match="no Conv2D layer"):
        grad_cam(dense_only, np.zeros((1, 1, 2, 2), np.float32))


def test_the_figures_show_the_arrays_they_are_drawn_from():
    from convnet.inspect import explain_figure, feature_maps_figure, filters_figure

    model = every_layer_net(dtype="float64")
    conv = model.layers[0]
    image = np.random.default_rng(4).standard_normal(model.input_shape)

    fig = filters_figure(model, conv.name)
    kernels = conv.params["kernel"].mean(axis=1)
    for i, kernel in enumerate(kernels):
        np.testing.assert_array_equal(fig.axes[i].images[0].get_array(), kernel)

    fig = feature_maps_figure(model, image, conv.name)
    maps = activations(model, image[None])[conv.name][0]
    for i, feature_map in enumerate(maps):
        np.testing.assert_array_equal(fig.axes[i].images[0].get_array(), feature_map)

    before = conv.params["kernel"] * 0.5
    fig = filters_figure(model, conv.name, before=before)
    assert len(fig.axes) == 2 * len(kernels)
    for i, kernel in enumerate(kernels):
        np.testing.assert_array_equal(fig.axes[i].images[0].get_array(), 0.5 * kernel)
        np.testing.assert_array_equal(fig.axes[len(kernels) + i].images[0].get_array(), kernel)
    assert fig.axes[0].images[0].get_clim() == fig.axes[-1].images[0].get_clim()

    fig = explain_figure(model, image, class_index=1)
    gradient, _ = saliency(model, image[None], 1)
    cam, _ = grad_cam(model, image[None], 1)
    probabilities = model.predict(image[None])[0]
    ax_x, ax_p, ax_s, ax_c, *ax_maps = fig.axes
    np.testing.assert_allclose(ax_x.images[0].get_array(), image.mean(axis=0))
    np.testing.assert_allclose([bar.get_width() for bar in ax_p.patches], probabilities)
    np.testing.assert_allclose(ax_s.images[1].get_array(), np.abs(gradient[0]).max(axis=0))
    np.testing.assert_allclose(ax_c.images[1].get_array(), cam[0])
    assert "'1'" in ax_s.get_title() and "'1'" in ax_c.get_title()
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv2D)]
    assert len(ax_maps) == len(convs)
    for ax, layer in zip(ax_maps, convs, strict=True):
        maps = activations(model, image[None])[layer.name][0]
        np.testing.assert_allclose(ax.images[0].get_array(), mosaic(maps))
        assert ax.get_title().startswith(f"{layer.name}: {len(maps)} feature maps")
    assert fig.explained["class_index"] == 1


def test_a_mosaic_tiles_the_maps_row_by_row():
    maps = np.random.default_rng(7).random((64, 5, 3))
    tiled = mosaic(maps)
    assert tiled.shape == (4 * 6 - 1, 16 * 4 - 1)  # 64 maps: 16 columns, 4 rows
    for i in range(64):
        r, c = divmod(i, 16)
        np.testing.assert_array_equal(tiled[6 * r : 6 * r + 5, 4 * c : 4 * c + 3], maps[i])
    assert np.isnan(tiled[5]).all() and np.isnan(tiled[:, 3]).all()
    assert mosaic(maps[:32]).shape[1] == 8 * 4 - 1


def test_the_embedding_shows_the_penultimate_features_projected_on_their_principal_axes():
    from convnet.inspect import embed_2d, embedding_figure, penultimate_features

    model = every_layer_net(dtype="float64")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((60, *model.input_shape))
    y = rng.integers(0, model.output_shape[0], 60)
    features = penultimate_features(model, x)
    assert features.shape == (60, *model.layers[-2].output_shape)

    points = embed_2d(features)
    centred = features - features.mean(axis=0)
    covariance = centred.T @ centred
    values, vectors = np.linalg.eigh(covariance)  # ascending
    for axis in range(2):  # each coordinate is the projection on one of the two top axes
        top = vectors[:, -1 - axis]
        np.testing.assert_allclose(np.abs(points[:, axis]), np.abs(centred @ top), atol=1e-9)

    fig = embedding_figure(model, x, y)
    for k, collection in enumerate(fig.axes[0].collections):
        np.testing.assert_allclose(collection.get_offsets(), points[y == k])
    source = model.layers[-2]
    if isinstance(source, L.Dropout):  # the features are the layer's before it, passed through
        source = model.layers[-3]
    assert fig.texts[0].get_text().startswith(f"{source.name}'s ")


def test_tsne_gives_two_seeded_coordinates_per_image():
    from convnet.inspect import embed_2d

    features = np.random.default_rng(6).standard_normal((40, 5))
    first = embed_2d(features, "tsne", seed=1)
    assert first.shape == (40, 2)
    np.testing.assert_array_equal(first, embed_2d(features, "tsne", seed=1))
    with pytest.raises(ValueError, match="method must be 'pca' or 'tsne'"):
        embed_2d(features, "umap")


def test_the_receptive_field_is_where_the_gradient_of_one_output_reaches():
    """Through a strided, padded convolution, an average pool and a padded convolution (all
    weights positive, so nothing cancels), the input pixels with a nonzero gradient of one
    output position fill its receptive field, clipped to the image. (The sizes tile exactly:
    where a pool drops a last row, the field still counts the input under it, which then
    reaches the output through nothing.)"""
    from convnet.inspect import receptive_field

    model = Sequential([L.Conv2D(2, (3, 2), strides=(2, 1), padding="same"),
                        L.AvgPool2D(2), L.Conv2D(1, 3, padding=1)],
                       input_shape=(1, 16, 14), dtype="float64", seed=0)  # fmt: skip
    for layer in model.layers:
        for value in layer.params.values():
            value[:] = np.abs(value) + 0.1
    x = np.random.default_rng(8).random((1, 1, 16, 14))
    out = model.forward(x)
    (size_h, size_w), (jump_h, jump_w), (start_h, start_w) = receptive_field(model, "conv2d_1")
    for i, j in [(0, 0), (1, 2), (out.shape[2] - 1, out.shape[3] - 1)]:
        d = np.zeros_like(out)
        d[0, 0, i, j] = 1.0
        model.forward(x)
        rows, cols = np.nonzero(model.backward(d)[0, 0])
        top, left = start_h + i * jump_h, start_w + j * jump_w
        assert (rows.min(), rows.max()) == (max(top, 0), min(top + size_h - 1, 15))
        assert (cols.min(), cols.max()) == (max(left, 0), min(left + size_w - 1, 13))


def test_the_strongest_patches_are_the_input_under_the_largest_responses():
    from convnet.inspect import patches_figure, strongest_patches

    model = every_layer_net(dtype="float64")
    conv = model.layers[3].name  # the second convolution: 2 input channels, padded
    x = np.random.default_rng(9).random((5, *model.input_shape))
    patches, values, where = strongest_patches(model, conv, x, top=4)
    maps = activations(model, x)[conv]
    k = maps.shape[1]
    assert patches.shape[:3] == (k, 4, model.input_shape[0]) and values.shape == (k, 4)
    for channel in range(k):
        ranked = np.sort(maps[:, channel].ravel())[::-1][:4]
        np.testing.assert_allclose(values[channel], ranked)
        for rank, (n, i, j) in enumerate(where[channel]):
            assert maps[n, channel, i, j] == values[channel, rank]
    fig = patches_figure(model, conv, x, top=4, channels=2)
    np.testing.assert_allclose(fig.axes[5].images[0].get_array(), patches[1, 1].mean(axis=0))


def test_a_residual_blocks_receptive_field_is_its_block_layers():
    # The same layers with and without the block around them see the same input pixels.
    from convnet.inspect import receptive_field

    def layers(wrap):
        inner = [L.Conv2D(3, 3, strides=2, padding="same"), L.BatchNormalization(),
                 L.Conv2D(3, 3, padding="same")]  # fmt: skip
        return [L.Conv2D(3, 3, padding="same"), L.MaxPool2D(2),
                *(wrap(inner) if wrap else inner)]

    blocked = Sequential(layers(lambda inner: [L.Residual(inner, name="block")]),
                         input_shape=(1, 12, 12), seed=0)  # fmt: skip
    flat = Sequential(layers(None), input_shape=(1, 12, 12), seed=0)
    expected = receptive_field(flat, flat.layers[-1].name)
    assert receptive_field(blocked, "block") == expected
    # 3x3 (pad 1): 3 wide from -1; pool: 4, jump 2; 3x3 stride 2 on 6x6 ('same' pads only
    # after): 8, jump 4; 3x3 (pad 1 at jump 4): 16 wide from -1 - 4 = -5
    assert expected == ((16, 16), (4, 4), (-5, -5))
