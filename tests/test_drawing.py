"""The drawing app's logic without a display: strokes → raster → preprocess → prediction."""

import numpy as np
import pytest
from PIL import Image
from traced_digits import draw, first_of, trace_one, trace_zero

from convnet import Conv2D, Dense, Flatten, Sequential
from convnet.cli import main
from convnet.drawing import (
    CLOSE,
    DRAW_A_DIGIT,
    MNIST_INK,
    TRAIN_COMMAND,
    Drawing,
    Recogniser,
    confidence,
    ink_caution,
    ink_ranges,
    panel_mosaic,
    stretch,
)
from convnet.preprocess import mnist_style

# -- strokes to raster -------------------------------------------------------------------------


def test_a_stroke_is_rasterised_with_round_caps_and_the_pens_width():
    d = Drawing(size=100, pen=10)
    d.pen_down(20, 50)
    d.pen_to(80, 50)
    ink = d.raster() < 0.5
    assert ink[50, 20:81].all()  # along the stroke
    assert ink[46:55, 50].all() and not ink[43, 50] and not ink[57, 50]  # 10 px wide
    assert ink[50, 16] and ink[50, 84] and not ink[50, 12]  # round caps reach 5 px beyond
    assert not ink[45, 16]  # ... but round: a square cap would cover this corner


def test_a_click_leaves_a_dot_and_strokes_are_kept_in_raster_coordinates():
    d = Drawing()
    d.pen_down(100.5, 60)
    assert (d.raster() < 0.5).sum() == pytest.approx(np.pi * 11**2, rel=0.1)
    d.pen_to(120, 80)
    d.pen_down(10, 10)
    assert d.strokes == [[(100.5, 60.0), (120.0, 80.0)], [(10.0, 10.0)]]


def test_clear_wipes_strokes_and_raster():
    d = Drawing()
    d.pen_down(10, 10)
    d.pen_to(200, 200)
    d.clear()
    assert d.strokes == [] and d.raster().min() == 1.0


def test_pen_to_without_pen_down_says_what_to_do():
    with pytest.raises(ValueError, match="pen_down"):
        Drawing().pen_to(1, 2)


# -- raster to labels --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_test():
    from convnet.data import load_mnist

    return load_mnist()[1]


@pytest.mark.parametrize("label, trace", [(1, trace_one), (0, trace_zero)])
def test_strokes_traced_from_mnist_are_recognised(digit_model, mnist_test, label, trace):
    _, path = digit_model
    drawing = Drawing()
    draw(drawing, trace(first_of(label, *mnist_test)))
    result = Recogniser(path).recognise(drawing.raster())
    assert result.answer == str(label) and result.digit == label and not result.problem
    assert result.status == f"{result.probabilities[label]:.1%} sure"
    assert result.probabilities.shape == (10,) and result.probabilities.sum() == pytest.approx(1)
    # The model received exactly what the library's preprocessing makes of the raster.
    np.testing.assert_array_equal(result.model_input, mnist_style(drawing.raster()))


def test_the_command_line_predict_gives_the_app_s_answer(digit_model, mnist_test, tmp_path,
                                                         capsys):  # fmt: skip
    _, path = digit_model
    drawing = Drawing()
    draw(drawing, trace_zero(first_of(0, *mnist_test)))
    result = Recogniser(path).recognise(drawing.raster())
    png = tmp_path / "zero.png"
    Image.fromarray(np.round(drawing.raster() * 255).astype(np.uint8)).save(png)
    assert main(["predict", str(png), "--model", str(path)]) == 0
    assert capsys.readouterr().out == f"{png}: 0 ({result.probabilities[0]:.1%})\n"


def test_an_empty_canvas_or_a_speck_gets_draw_a_digit_not_a_guess(digit_model):
    _, path = digit_model
    recogniser = Recogniser(path)
    drawing = Drawing()
    for _ in range(2):
        result = recogniser.recognise(drawing.raster())
        assert (result.answer, result.status, result.digit) == ("", DRAW_A_DIGIT, None)
        assert result.probabilities is None and result.model_input is None
        drawing.pen_down(140, 140)  # a click: one dot of the pen
        drawing.pen_to(145, 141)
    drawing.pen_to(145, 200)  # now a stroke as long as a small digit
    assert recogniser.recognise(drawing.raster()).answer != ""


# -- missing or unusable model files -----------------------------------------------------------


def assert_problem_shown(recogniser, *fragments):
    drawing = Drawing()
    for blank in (True, False):
        result = recogniser.recognise(drawing.raster())
        assert result.problem and result.answer == "" and result.digit is None
        assert result.status == recogniser.problem and TRAIN_COMMAND in result.status
        for fragment in fragments:
            assert fragment in result.status
        if blank:  # with a digit drawn, the message stays (and the model's input is shown)
            draw(drawing, [[(140, 40), (140, 240)]])
    assert result.model_input.shape == (28, 28)


def test_a_missing_model_file_gets_the_command_that_trains_one(tmp_path):
    assert_problem_shown(Recogniser(tmp_path / "mnist.h5"), "no model file", "mnist.h5")


def test_a_file_that_is_not_a_model_gets_a_message(tmp_path):
    path = tmp_path / "mnist.h5"
    path.write_bytes(b"not HDF5 at all")
    assert_problem_shown(Recogniser(path), "not a readable HDF5 file")


def test_a_model_for_other_images_or_classes_is_refused(tmp_path):
    path = tmp_path / "cifar.h5"
    Sequential([Conv2D(4, (3, 3)), Flatten(), Dense(10, activation="softmax")],
               input_shape=(3, 32, 32), seed=0).save(path)  # fmt: skip
    assert_problem_shown(Recogniser(path), "(3, 32, 32)", "(1, 28, 28)")
    Sequential([Flatten(), Dense(26, activation="softmax")], input_shape=(1, 28, 28),
               seed=0).save(path)  # fmt: skip
    assert_problem_shown(Recogniser(path), "(26,)", "10 classes")


def test_a_model_without_a_final_softmax_is_refused(tmp_path):
    path = tmp_path / "logits.h5"
    Sequential([Flatten(), Dense(10)], input_shape=(1, 28, 28), seed=0).save(path)
    assert_problem_shown(Recogniser(path), "not probabilities")


# -- an honest confidence line -----------------------------------------------------------------

DIGITS = [str(d) for d in range(10)]


def probabilities(**named):
    """Ten probabilities: the ones given by digit (``d3=0.6``), the rest shared equally."""
    p = np.zeros(10)
    for key, value in named.items():
        p[int(key[1:])] = value
    p[p == 0] = (1 - p.sum()) / (p == 0).sum()
    return p


@pytest.mark.parametrize("p, expected", [
    (probabilities(d7=0.99), "99.0% sure"),
    (probabilities(d3=0.61, d5=0.35), "3 or 5? 61% vs 35%"),
    (probabilities(d5=0.35, d3=0.61), "3 or 5? 61% vs 35%"),  # the winner first
    (probabilities(d4=0.75, d9=0.25), "4 or 9? 75% vs 25%"),  # a third exactly: doubtful
    (probabilities(d4=0.76, d9=0.24), "76.0% sure"),  # just under a third
    (probabilities(d2=0.4, d6=0.12, d1=0.11), "40.0% sure"),  # unsure, but of nothing else
    (probabilities(d1=0.5, d8=0.5), "1 or 8? 50% vs 50%"),  # a tie: argmax's choice first
])  # fmt: skip
def test_the_status_names_both_classes_when_the_runner_up_is_close(p, expected):
    assert confidence(p, DIGITS) == expected
    assert CLOSE == pytest.approx(1 / 3)


def test_a_doubtful_answer_uses_the_model_s_class_names():
    from convnet.data import FASHION_MNIST

    p = probabilities(d6=0.5, d0=0.4)
    assert confidence(p, FASHION_MNIST.class_names) == "Shirt or T-shirt/top? 50% vs 40%"


def digit_raster(rows, cols):
    """A 28x28 MNIST-style image with full ink in the given rows and columns."""
    image = np.zeros((28, 28), np.float32)
    image[rows, cols] = 1.0
    return image


@pytest.mark.parametrize("image, digit, expected", [
    (digit_raster(slice(4, 24), slice(13, 15)), 1, ""),  # a 1 two pixels wide: 0.051
    (digit_raster(slice(4, 24), 14), 1, "very little ink for an MNIST 1"),  # one: 0.026
    (digit_raster(slice(4, 24), 14), 8, "very little ink for an MNIST 8"),
    (digit_raster(slice(4, 24), slice(13, 15)), 8, "very little ink for an MNIST 8"),
    (digit_raster(slice(4, 24), slice(4, 24)), 0, "very much ink for an MNIST 0"),  # 0.51
    (digit_raster(slice(4, 24), slice(9, 19)), 0, ""),  # 200 pixels: 0.255, a bold 0
    (digit_raster(slice(4, 24), slice(9, 19)), 1, "very much ink for an MNIST 1"),
])  # fmt: skip
def test_ink_far_from_the_training_digits_of_the_class_gets_a_caution(image, digit, expected):
    caution = ink_caution(image, digit, DIGITS)
    if expected:
        assert caution.startswith("unlike the digits the model was trained on: ")
        assert caution.endswith(expected)
    else:
        assert caution == ""
    assert ink_caution(image, digit, [f"class {k}" for k in range(10)]) == ""  # not digits


def test_the_ink_ranges_are_the_percentiles_of_mnist_s_training_digits():
    """MNIST_INK, written into convnet/drawing.py, measured again from the training images."""
    import os

    if not os.environ.get("CONVNET_DATA_DIR"):
        pytest.skip("set CONVNET_DATA_DIR to the MNIST folder")
    from convnet.data import load_mnist

    (x_train, y_train), _ = load_mnist()
    measured = ink_ranges(x_train, y_train, low=0.5, high=99.5)
    np.testing.assert_allclose(measured, MNIST_INK, atol=5e-5)
    # The reason for ranges per class: one range for all digits would flag many real 1s.
    amount = x_train.reshape(len(x_train), -1).mean(axis=1) / 255
    low = np.percentile(amount, 0.5)
    assert (amount[y_train == 1] < low).mean() > 0.04


def test_digits_drawn_in_the_app_get_no_caution_and_a_scribble_gets_one(digit_model, mnist_test):
    _, path = digit_model
    recogniser = Recogniser(path)
    for label, trace in [(1, trace_one), (0, trace_zero)]:
        drawing = Drawing()
        draw(drawing, trace(first_of(label, *mnist_test)))
        assert recogniser.recognise(drawing.raster()).caution == ""
    scribble = Drawing()
    draw(scribble, [[(20, y), (260, y)] for y in range(20, 270, 15)])  # the canvas inked over
    result = recogniser.recognise(scribble.raster())
    assert result.answer != "" and "very much ink" in result.caution


# -- what the network sees ---------------------------------------------------------------------


def test_look_inside_gives_what_convnet_inspect_computes(digit_model, mnist_test):
    from convnet.inspect import activations, grad_cam, saliency

    model, path = digit_model
    recogniser = Recogniser(path)
    drawing = Drawing()
    draw(drawing, trace_zero(first_of(0, *mnist_test)))
    result = recogniser.recognise(drawing.raster())
    x = result.model_input[None, None].astype(model.dtype)
    for digit in (result.digit, 6):  # the answer, and another class
        seen = recogniser.look_inside(result.model_input, digit)
        assert (seen.digit, seen.name, seen.cam_layer) == (digit, str(digit), "conv2d_1")
        layers = activations(recogniser.model, x)
        assert list(seen.maps) == ["conv2d", "conv2d_1"]
        for name, maps in seen.maps.items():
            np.testing.assert_allclose(maps, layers[name][0], rtol=1e-6, atol=1e-7)
        gradient, _ = saliency(recogniser.model, x, digit)
        np.testing.assert_allclose(seen.saliency, gradient[0, 0], rtol=1e-5, atol=1e-7)
        cam, _ = grad_cam(recogniser.model, x, digit)
        assert cam.shape == (1, 8, 8) and cam.max() > 0
        np.testing.assert_allclose(seen.cam, stretch(cam[0], 28), rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(seen.model_input, result.model_input)
    assert recogniser.look_inside(None, 0) is None  # an empty canvas: nothing to look at


def test_stretch_keeps_a_constant_and_lines_up_pixel_centres():
    np.testing.assert_allclose(stretch(np.full((8, 8), 2.5), 28), 2.5)
    cam = np.zeros((2, 2))
    cam[0, 0] = 1.0
    big = stretch(cam, 28)
    # The map's pixel centres land on output pixels 6.5 and 20.5: flat outside, linear between.
    assert big.shape == (28, 28) and big[:7, :7].min() == 1.0 and big[21:, 21:].max() == 0.0
    np.testing.assert_allclose(big[0, 13] + big[0, 14], 1.0)
    np.testing.assert_allclose(big, big.T)


@pytest.mark.parametrize("k, h, width, height, zoom, shape", [
    (8, 24, 320, 200, 3, (2 * 74 - 2, 4 * 74 - 2)),  # small_net's first layer: 4 + 4
    (16, 8, 320, 200, 6, (3 * 50 - 2, 6 * 50 - 2)),  # its second: 6 + 6 + 4
    (32, 26, 320, 200, 1, (3 * 28 - 2, 11 * 28 - 2)),  # the seed net's first: 11 + 11 + 10
    (64, 24, 320, 200, 1, (6 * 26 - 2, 11 * 26 - 2)),  # its second
    (64, 24, 100, 50, 1, (22 * 26 - 2, 3 * 26 - 2)),  # no room: 1x, taller than asked
])  # fmt: skip
def test_a_mosaic_shows_every_map_as_large_as_fits(k, h, width, height, zoom, shape):
    maps = np.random.default_rng(0).random((k, h, h)) * 5
    tiles, got_zoom = panel_mosaic(maps, width=width, height=height)
    assert (got_zoom, tiles.shape) == (zoom, shape)
    assert tiles.shape[1] <= width and (tiles.shape[0] <= height or zoom == 1)
    rows, columns = (shape[0] + 2) // (zoom * h + 2), (shape[1] + 2) // (zoom * h + 2)
    assert (rows - 1) * columns < k <= rows * columns
    step = zoom * h + 2
    for i in (0, k - 1):  # each map in its place, enlarged by pixel copies, on one scale
        r, c = divmod(i, columns)
        tile = tiles[r * step : r * step + zoom * h, c * step : c * step + zoom * h]
        np.testing.assert_allclose(tile[::zoom, ::zoom], maps[i] / maps.max())
    assert np.isnan(tiles).sum() == tiles.size - k * (zoom * h) ** 2


def test_look_inside_a_model_without_convolutions_gives_the_saliency_only(tmp_path):
    from convnet.inspect import saliency

    path = tmp_path / "dense.h5"
    Sequential([Flatten(), Dense(10, activation="softmax")], input_shape=(1, 28, 28),
               seed=0).save(path)  # fmt: skip
    recogniser = Recogniser(path)
    image = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    seen = recogniser.look_inside(image, 4)
    assert seen.maps == {} and seen.cam is None and seen.cam_layer is None
    gradient, _ = saliency(recogniser.model, image[None, None], 4)
    np.testing.assert_allclose(seen.saliency, gradient[0, 0], rtol=1e-6)
