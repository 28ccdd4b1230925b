"""Image-quality metrics, batched (one value per image)."""

from __future__ import annotations

import torch

from cunet_bench.errors import UserError


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


LPIPS_VERSION = "0.1"


def _lpips_network(random_backbone: bool) -> torch.nn.Module:
    """LPIPS v0.1 with AlexNet, built without any pretrained loading of its own (the package would
    fetch AlexNet through torchvision's hub loader, which unpickles); the linear heads come from
    the file in the lpips wheel and the backbone from the verified AlexNet file, both read as
    tensors only (:func:`cunet_bench.weights.load_tensors`)."""
    import warnings
    from pathlib import Path

    import lpips

    from cunet_bench.checkpoints import load_state
    from cunet_bench.weights import load_tensors

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
                images = torch.nn.functional.interpolate(images, size=(self.MIN_SIZE, self.MIN_SIZE), mode="bilinear",
                                                         align_corners=False)
            return images * 2 - 1

        return self.network(prepare(estimate), prepare(reference)).flatten().double().cpu()
