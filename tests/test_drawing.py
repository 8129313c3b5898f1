"""The drawing app's logic without a display: strokes → raster → preprocess → prediction."""

import numpy as np
import pytest
from PIL import Image
from traced_digits import draw, first_of, trace_one, trace_zero

from convnet import Conv2D, Dense, Flatten, Sequential
from convnet.cli import main
from convnet.drawing import DRAW_A_DIGIT, TRAIN_COMMAND, Drawing, Recogniser
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
