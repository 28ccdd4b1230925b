import math

import pytest
import torch
from cunet_bench.measure.metrics import psnr


def test_psnr_of_a_known_error():
    reference = torch.zeros(2, 1, 4, 4)
    estimate = reference.clone()
    estimate[0] += 0.1  # MSE 0.01 → 20 dB
    estimate[1, 0, 0, 0] = 0.5  # MSE 0.25/16 → 10·log10(64)
    values = psnr(estimate, reference)
    assert values[0].item() == pytest.approx(20.0)
    assert values[1].item() == pytest.approx(10 * math.log10(64))


def test_psnr_of_identical_images_is_infinite():
    image = torch.rand(1, 3, 8, 8)
    assert math.isinf(psnr(image, image).item())


def test_a_grids_labels_wrap_inside_their_columns_and_the_title_to_the_figure():
    """Column labels never run into a neighbour's column (broken at spaces, then hyphens, then
    anywhere) and a long title wraps instead of being cut; every column is wide enough to read."""
    import io

    from cunet_bench.measure.image_grids import MIN_COLUMN, _wrapped, labelled_grid_png
    from PIL import Image

    six = lambda text: 6 * len(text)  # noqa: E731 - a fixed-width font for the test
    assert _wrapped("cunet-release", 48, six) == ["cunet-", "release"]
    assert _wrapped("x0 @ step 8", 36, six) == ["x0 @", "step 8"]
    assert _wrapped("abcdefghij", 24, six) == ["abcd", "efgh", "ij"]
    title = "noise step 50: sigma = 0.066 of the [0, 1] range (sigmoid schedule): cunet-release's iterate"
    columns = {label: torch.rand(5, 1, 32, 32) for label in ("clean", "noisy", "cunet-release", "conv-ae", "bm3d")}
    png = Image.open(io.BytesIO(labelled_grid_png(columns, title)))
    assert png.width >= MIN_COLUMN * len(columns) and png.height > 5 * 32 * 3
