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
