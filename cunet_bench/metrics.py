"""Image-quality metrics, batched (one value per image)."""

from __future__ import annotations

import torch


def psnr(estimate: torch.Tensor, reference: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image of ``[B, C, H, W]`` batches:
    ``10·log10(data_range² / MSE)``; +inf for a perfect estimate."""
    mse = (estimate.double() - reference.double()).square().flatten(1).mean(dim=1)
    return 10 * torch.log10(data_range**2 / mse)


SSIM_SETTINGS = {"data_range": 1.0, "gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False,
                 "win_size": 11}
"""Wang et al. (2004) settings of scikit-image's SSIM, recorded with every SSIM result."""


def ssim(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """SSIM per image of ``[B, C, H, W]`` batches in [0, 1] (scikit-image, Wang et al. settings;
    colour images through ``channel_axis``). Looped per image: scikit-image would treat a batch
    passed as one array as a volume."""
    from skimage.metrics import structural_similarity

    values = []
    for a, b in zip(estimate.detach().double().cpu().numpy(), reference.detach().double().cpu().numpy()):
        if a.shape[0] == 1:
            values.append(structural_similarity(a[0], b[0], **SSIM_SETTINGS))
        else:
            values.append(structural_similarity(a, b, channel_axis=0, **SSIM_SETTINGS))
    return torch.tensor(values, dtype=torch.float64)


class MetricUnavailable(Exception):
    """A metric whose pretrained weights are not installed: its results are left empty."""


class Lpips:
    """LPIPS v0.1 with the AlexNet backbone (Zhang et al. 2018) on [0, 1] images: gray repeated
    to 3 channels, images smaller than 32 px upsampled (AlexNet fails below that).

    Needs the verified AlexNet file (``bench weights``); ``random_backbone=True`` builds a
    randomly initialised AlexNet — only for testing the code path, never for results.
    """

    MIN_SIZE = 32

    def __init__(self, device: str = "cpu", random_backbone: bool = False) -> None:
        import warnings

        import lpips

        from cunet_bench.weights import available

        if not random_backbone and available("alexnet") is None:
            raise MetricUnavailable("weights not installed")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.network = lpips.LPIPS(net="alex", version="0.1", pnet_rand=random_backbone, verbose=False)
        self.network = self.network.to(device).eval().requires_grad_(False)
        self.device = device

    @torch.no_grad()
    def __call__(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        def prepare(images: torch.Tensor) -> torch.Tensor:
            images = images.to(self.device, torch.float32)
            if images.shape[1] == 1:
                images = images.repeat(1, 3, 1, 1)
            if min(images.shape[-2:]) < self.MIN_SIZE:
                images = torch.nn.functional.interpolate(images, size=(self.MIN_SIZE, self.MIN_SIZE), mode="bilinear",
                                                         align_corners=False)
            return images * 2 - 1

        return self.network(prepare(estimate), prepare(reference)).flatten().double().cpu()
