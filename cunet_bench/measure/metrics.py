"""Image-quality metrics, batched (one value per image)."""

from __future__ import annotations

import functools

import numpy as np
import torch

from cunet_bench.errors import UserError


def psnr(estimate: torch.Tensor, reference: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image of ``[B, C, H, W]`` batches:
    ``10·log10(data_range² / MSE)``; +inf for a perfect estimate."""
    mse = (estimate.double() - reference.double()).square().flatten(1).mean(dim=1)
    return 10 * torch.log10(data_range**2 / mse)


SSIM_SETTINGS = {
    "data_range": 1.0,
    "gaussian_weights": True,
    "sigma": 1.5,
    "use_sample_covariance": False,
    "win_size": 11,
}
"""Wang et al. (2004) settings of scikit-image's SSIM, recorded with every SSIM result."""
SSIM_K1, SSIM_K2, SSIM_TRUNCATE = 0.01, 0.03, 3.5
"""scikit-image's fixed constants of that setting: the stabilisers' K1 and K2, and the Gaussian's
truncation in σ (radius 5 at σ = 1.5, the 11-tap window of Wang et al.)."""


@functools.lru_cache(maxsize=16)
def _gaussian_filter_matrix(size: int, sigma: float, radius: int) -> torch.Tensor:
    """``[size, size]`` matrix ``G`` with ``G @ v`` = ``scipy.ndimage.gaussian_filter1d(v, sigma,
    truncate=radius/σ, mode='reflect')``: the taps of ``_gaussian_kernel1d`` (in its own
    arithmetic), with those that fall past an edge folded back onto the pixels ndimage's
    ``reflect`` mode mirrors them to (d c b a | a b c d | d c b a). Needs ``size > radius``."""
    offsets = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 / (sigma * sigma) * offsets**2)
    taps /= taps.sum()
    rows = np.arange(size)[:, None]
    read = rows + offsets
    read = np.where(read < 0, -1 - read, np.where(read >= size, 2 * size - 1 - read, read))
    matrix = np.zeros((size, size))
    np.add.at(matrix, (rows, read), np.broadcast_to(taps, read.shape))
    return torch.from_numpy(matrix)


def check_ssim_size(height: int, width: int) -> None:
    """Refuse images smaller than SSIM's Gaussian window, as scikit-image does."""
    window = SSIM_SETTINGS["win_size"]
    if min(height, width) < window:
        raise UserError(
            f"SSIM needs images of at least {window}×{window} pixels (its Gaussian window), got {height}×{width}"
        )


def ssim(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """SSIM per image of ``[B, C, H, W]`` batches in [0, 1]: scikit-image's
    ``structural_similarity`` with Wang et al.'s settings (:data:`SSIM_SETTINGS`; colour images
    as its ``channel_axis`` does, the mean of the channels' SSIM), computed for the whole batch at
    once in float64. Equal to scikit-image's value to float64 rounding (``tests``: within 1e-12);
    an image compared with itself gives exactly 1. ``bench denoise`` scores every reverse step,
    so the batch is computed at once (docs/measurements.md §5)."""
    settings = SSIM_SETTINGS
    height, width = estimate.shape[-2:]
    check_ssim_size(height, width)
    radius = int(SSIM_TRUNCATE * settings["sigma"] + 0.5)
    rows = _gaussian_filter_matrix(height, settings["sigma"], radius)
    columns = _gaussian_filter_matrix(width, settings["sigma"], radius)
    x = estimate.detach().double().cpu().flatten(0, 1)
    y = reference.detach().double().cpu().flatten(0, 1)
    ux, uy, uxx, uyy, uxy = (rows @ torch.cat((x, y, x * x, y * y, x * y)) @ columns.T).chunk(5)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = (SSIM_K1 * settings["data_range"]) ** 2, (SSIM_K2 * settings["data_range"]) ** 2
    similarity = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    crop = (settings["win_size"] - 1) // 2
    per_channel = similarity[:, crop:-crop, crop:-crop].mean(dim=(1, 2))
    return per_channel.reshape(estimate.shape[:2]).mean(dim=1)


LPIPS_VERSION = "0.1"


def _lpips_network(random_backbone: bool) -> torch.nn.Module:
    """LPIPS v0.1 with AlexNet, built without any pretrained loading of its own (the package would
    fetch AlexNet through torchvision's hub loader, which unpickles); the linear heads come from
    the file in the lpips wheel and the backbone from the verified AlexNet file, both read as
    tensors only (:func:`cunet_bench.measure.weights.load_tensors`)."""
    import warnings
    from pathlib import Path

    import lpips

    from cunet_bench.measure.weights import load_tensors
    from cunet_bench.records.checkpoints import load_state

    backbone = None if random_backbone else load_tensors("alexnet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's notice about its deprecated `pretrained` argument
        network = lpips.LPIPS(pretrained=False, net="alex", version=LPIPS_VERSION, pnet_rand=True, verbose=False)
    heads_path = Path(lpips.__file__).parent / "weights" / f"v{LPIPS_VERSION}" / "alex.pth"
    try:
        heads = torch.load(heads_path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged installation of the lpips package
        raise UserError(f"the LPIPS heads {heads_path} cannot be read ({error}); reinstall the lpips package") from None
    for index, head in enumerate(network.lins):
        load_state(head, {"model.1.weight": heads[f"lin{index}.model.1.weight"]}, heads_path, f"LPIPS head {index}")
    if backbone is not None:
        slices = {index: name for name, block in network.net.named_children() for index in block._modules}
        features = {}
        for key, value in backbone.items():
            group, _, rest = key.partition(".")
            if group == "features":
                index, _, parameter = rest.partition(".")
                features[f"{slices.get(index, 'unknown' + index)}.{index}.{parameter}"] = value
        load_state(network.net, features, "the installed AlexNet file", "AlexNet of LPIPS")
    return network


class Lpips:
    """LPIPS v0.1 with the AlexNet backbone (Zhang et al. 2018) on [0, 1] images: gray repeated
    to 3 channels, images smaller than 32 px upsampled (AlexNet fails below that).

    Needs the verified AlexNet file (``bench weights``); ``random_backbone=True`` keeps a
    randomly initialised AlexNet — only for testing the code path, never for results.
    """

    MIN_SIZE = 32

    def __init__(self, device: str = "cpu", random_backbone: bool = False) -> None:
        self.network = _lpips_network(random_backbone).to(device).eval().requires_grad_(False)
        self.device = device

    @torch.no_grad()
    def __call__(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        def prepare(images: torch.Tensor) -> torch.Tensor:
            images = images.to(self.device, torch.float32)
            if images.shape[1] == 1:
                images = images.repeat(1, 3, 1, 1)
            if min(images.shape[-2:]) < self.MIN_SIZE:
                images = torch.nn.functional.interpolate(
                    images, size=(self.MIN_SIZE, self.MIN_SIZE), mode="bilinear", align_corners=False
                )
            return images * 2 - 1

        return self.network(prepare(estimate), prepare(reference)).flatten().double().cpu()
