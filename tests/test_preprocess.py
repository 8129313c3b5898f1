"""MNIST-style preprocessing: each step on hand-made pictures, then the whole on real digits."""

import os

import numpy as np
import pytest
from PIL import Image

from convnet.preprocess import (
    centre_of_mass_shift,
    fit_in_box,
    ink_box,
    ink_on_black,
    load_image,
    mnist_style,
    plain_resize,
    redraw,
)


def centre_of_mass(image):
    rows, cols = np.indices(image.shape)
    return (rows * image).sum() / image.sum(), (cols * image).sum() / image.sum()


def test_dark_ink_on_light_paper_is_inverted_and_light_on_dark_is_kept():
    page = np.ones((10, 10), np.float32)
    page[3:7, 4] = 0.0
    expected = np.zeros((10, 10), np.float32)
    expected[3:7, 4] = 1.0
    np.testing.assert_array_equal(ink_on_black(page), expected)
    np.testing.assert_array_equal(ink_on_black(1.0 - page), expected)


def test_the_border_decides_the_paper_even_when_ink_covers_most_of_the_picture():
    page = np.zeros((10, 10), np.float32)  # a huge blob of black ink on a white frame
    page[0, :] = page[-1, :] = page[:, 0] = page[:, -1] = 1.0
    ink = ink_on_black(page)
    assert ink[5, 5] == 1.0 and ink[0, 0] == 0.0


def test_grey_paper_and_faint_ink_are_stretched_to_zero_and_one():
    page = np.full((8, 8), 0.2, np.float32)
    page[2:6, 3] = 0.5
    ink = ink_on_black(page)
    assert ink.min() == 0.0 and ink.max() == 1.0 and ink[0, 0] == 0.0


def test_blank_pictures_have_no_ink():
    for blank in (np.ones((20, 20)), np.zeros((20, 20)), np.full((20, 20), 0.7)):
        assert ink_box(ink_on_black(blank)) is None
        with pytest.raises(ValueError, match="no ink"):
            mnist_style(blank)


def test_a_colour_array_is_refused_with_what_to_do():
    with pytest.raises(ValueError, match=r"shape \(4, 4, 3\).*load_image"):
        ink_on_black(np.zeros((4, 4, 3)))


def test_scaling_keeps_the_aspect_ratio():
    assert fit_in_box(np.ones((100, 60))).shape == (20, 12)
    assert fit_in_box(np.ones((30, 150))).shape == (4, 20)
    assert fit_in_box(np.ones((3, 300))).shape == (1, 20)


def test_a_thin_stroke_survives_shrinking_as_a_fainter_line():
    crop = np.zeros((200, 200), np.float32)
    crop[:, 100:102] = 1.0  # 2 px wide: 0.2 px after shrinking ten times
    column = fit_in_box(crop)[10]
    # About a fifth of a pixel of ink per row (a little more: Lanczos's negative lobes are
    # clipped at 0), where sampling every tenth pixel would keep all of it or none.
    assert 0.1 < column.max() < 0.5 and 0.15 < column.sum() < 0.3


def test_the_centre_of_mass_lands_at_the_centre():
    lopsided = np.zeros((20, 12), np.float32)
    lopsided[:, :3] = 1.0  # all the mass in the left quarter
    lopsided[0, :] = 1.0
    field = centre_of_mass_shift(lopsided)
    row, col = centre_of_mass(field)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5
    assert field.sum() == lopsided.sum()  # shifted, not clipped


def test_a_shift_that_would_clip_ink_stops_at_the_edge():
    corner = np.zeros((20, 20), np.float32)
    corner[0, 0] = 1.0  # the centre of mass is in a corner; the box must stay in the field
    field = centre_of_mass_shift(corner)
    assert field.sum() == 1.0 and field[8, 8] == 1.0


def test_a_digit_too_big_for_the_field_is_refused():
    with pytest.raises(ValueError, match="fit_in_box"):
        centre_of_mass_shift(np.ones((30, 10)))


def test_an_off_centre_dark_digit_becomes_an_mnist_digit():
    page = np.ones((280, 280), np.float32)
    page[150:270, 20:50] = 0.0  # a "1", bottom left
    digit = mnist_style(page)
    rows, cols = np.nonzero(digit > 0.5)
    assert rows.max() - rows.min() + 1 == 20  # the longer side is 20 pixels
    assert cols.max() - cols.min() + 1 == 5  # 120 x 30 keeps its 4:1 aspect ratio
    row, col = centre_of_mass(digit)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5
    assert digit.max() == 1.0 and digit[0, 0] == 0.0


@pytest.mark.skipif(not os.environ.get("CONVNET_DATA_DIR"),
                    reason="set CONVNET_DATA_DIR to the MNIST folder")  # fmt: skip
def test_mnist_digits_are_left_almost_unchanged():
    from convnet.data import load_mnist

    (_, _), (x_test, _) = load_mnist()
    digits = x_test[:200].astype(np.float32) / 255
    again = np.stack([mnist_style(d) for d in digits])
    # MNIST's own steps, done again, give back the same images: the mean difference is
    # 0.0004 (the digits moving by one pixel would make it 0.065).
    assert np.mean(np.abs(again - digits)) < 0.01


def test_redrawn_digits_are_recognised_as_well_as_clean_ones(digit_model):
    """2,000 MNIST test digits, each redrawn dark on a white 280x280 page with its longer side
    120-220 px at a random place, then MNIST-style preprocessed, are recognised within 1.5
    points as often as the clean digits. Shrinking the page (the naive way) is far worse.

    Measured with the session's small model (conftest.digit_model): clean 96.8%, redrawn and
    MNIST-style 96.7%, plain resize 10.8% (32.1% if the page is first inverted).
    """
    from convnet.data import load_mnist, to_images

    model, _ = digit_model
    (_, _), (x_test, y_test) = load_mnist()
    n = 2000
    x, y = x_test[:n], y_test[:n]
    rng = np.random.default_rng(0)
    pages = [redraw(d, rng) for d in x]

    def accuracy(images):
        return float((model.predict(images).argmax(axis=1) == y).mean())

    clean = accuracy(to_images(x))
    preprocessed = accuracy(np.stack([mnist_style(p) for p in pages])[:, None])
    naive = accuracy(np.stack([plain_resize(p) for p in pages])[:, None])
    inverted = accuracy(np.stack([plain_resize(1 - p) for p in pages])[:, None])
    print(f"clean {clean:.3f}, redrawn + mnist_style {preprocessed:.3f}, redrawn + plain "
          f"resize {naive:.3f} (inverted first: {inverted:.3f})")  # fmt: skip
    assert clean > 0.95  # the model is good enough for the comparison to mean something
    assert abs(clean - preprocessed) <= 0.015
    assert naive < 0.5 and inverted < 0.5


def drawn_seven():
    """A page with a 7 drawn dark on light, with grey anti-aliased edges, as uint8."""
    digit = np.zeros((28, 28), np.uint8)
    digit[5:8, 8:21] = 255  # the bar
    for row in range(8, 24):  # the stem, leaning left as it goes down
        digit[row, 19 - (row - 8) // 2 : 21 - (row - 8) // 2] = 255
    return np.round(redraw(digit, np.random.default_rng(3), canvas=120, smallest=60,
                           largest=90) * 255).astype(np.uint8)  # fmt: skip


def test_a_16_bit_picture_reads_as_its_8_bit_twin(tmp_path):
    page = drawn_seven()
    Image.fromarray(page).save(tmp_path / "8.png")
    Image.fromarray(page.astype(np.uint16) * 257).save(tmp_path / "16.png")  # 255 -> 65535
    with Image.open(tmp_path / "16.png") as img:
        assert img.mode == "I;16"  # a true 16-bit file, not quietly saved as 8 bits
    eight, sixteen = load_image(tmp_path / "8.png"), load_image(tmp_path / "16.png")
    assert sixteen.dtype == np.float32
    np.testing.assert_allclose(sixteen, eight, atol=1e-6)
    np.testing.assert_allclose(mnist_style(sixteen), mnist_style(eight), atol=1e-5)
    # The same picture in mode "I" (how older Pillows open 16-bit PNGs) is read the same.
    Image.fromarray(page.astype(np.int32) * 257).save(tmp_path / "I.tif")
    with Image.open(tmp_path / "I.tif") as img:
        assert img.mode == "I"
    np.testing.assert_allclose(load_image(tmp_path / "I.tif"), eight, atol=1e-6)


def test_a_dark_16_bit_picture_is_not_stretched_to_8_bits(tmp_path):
    levels = np.zeros((20, 20), np.uint16)
    levels[5:15, 9:11] = 600  # under 1% of the 16-bit range: near black to the eye
    Image.fromarray(levels).save(tmp_path / "dark.png")
    grey = load_image(tmp_path / "dark.png")
    assert float(grey.max()) == pytest.approx(600 / 65535) and float(grey.min()) == 0.0


def test_a_near_black_16_bit_picture_is_not_read_as_white_paper_with_a_digit(tmp_path):
    # Clipped to 8 bits, the near-black sheet (level 1500 of 65535) became white paper and
    # the strokes at 0 a crisp black digit, answered with confidence. Read as it is, the
    # picture is dark all over, and nothing on it is lighter than its sheet.
    levels = np.full((60, 60), 1500, np.uint16)
    levels[10:50, 27:33] = 0
    Image.fromarray(levels).save(tmp_path / "near-black.png")
    grey = load_image(tmp_path / "near-black.png")
    assert float(grey.max()) == pytest.approx(1500 / 65535)
    with pytest.raises(ValueError, match="no ink"):
        mnist_style(grey)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
@pytest.mark.parametrize("hidden", [0, 255], ids=["transparent-black", "transparent-white"])
def test_black_ink_on_a_transparent_sheet_is_laid_on_white_paper(tmp_path, mode, hidden):
    page = drawn_seven()  # 255 paper, 0 ink
    ink = 255 - page  # how opaque each pixel is: the ink, not the paper
    colour = np.where(ink > 0, 0, hidden).astype(np.uint8)  # black where visible
    channels = [colour] * (3 if mode == "RGBA" else 1) + [ink]
    Image.fromarray(np.stack(channels, axis=-1), mode).save(tmp_path / "sheet.png")
    # The opaque version: the same ink, laid on white by hand.
    expected = 1.0 - ink.astype(np.float32) / 255
    np.testing.assert_allclose(load_image(tmp_path / "sheet.png"), expected, atol=1e-6)
    assert ink_box(mnist_style(load_image(tmp_path / "sheet.png"))) is not None


def test_white_ink_on_a_transparent_sheet_is_laid_on_black_paper(tmp_path):
    ink = 255 - drawn_seven()
    rgba = np.stack([np.full_like(ink, 255)] * 3 + [ink], axis=-1)  # white, opaque only as ink
    Image.fromarray(rgba, "RGBA").save(tmp_path / "sheet.png")
    np.testing.assert_allclose(load_image(tmp_path / "sheet.png"), ink / 255, atol=1e-6)


@pytest.mark.parametrize("content", [b"", b"not a picture\n", None], ids=["empty", "text", "cut"])
def test_a_file_that_is_not_a_readable_image_is_a_value_error_naming_it(tmp_path, content):
    path = tmp_path / "digit.png"
    if content is None:  # a real PNG, cut in half
        Image.fromarray(drawn_seven()).save(path)
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"{path}: .*(not an image|damaged)"):
        load_image(path)


def test_redraw_puts_the_digit_big_and_dark_somewhere_on_white_paper():
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 10:18] = 255
    sides = []
    for seed in range(20):
        page = redraw(digit, np.random.default_rng(seed))
        top, bottom, left, right = ink_box(1.0 - page)
        sides.append(bottom - top + 1)
        assert right - left + 1 < bottom - top + 1  # still taller than wide
    assert 120 <= min(sides) and max(sides) <= 220 and len(set(sides)) > 5


def test_a_decompression_bomb_is_a_value_error_naming_the_file(tmp_path, monkeypatch):
    """Pillow refuses pictures of more than twice MAX_IMAGE_PIXELS (a few KB of PNG can
    decode to gigabytes); here the limit is lowered instead of writing such a file."""
    from PIL import Image

    path = tmp_path / "huge.png"
    Image.new("L", (100, 100), 255).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10,000 pixels: over twice that
    with pytest.raises(ValueError, match=r"huge\.png: too large to read safely"):
        load_image(path)
