"""BM3D (Dabov et al. 2007) through the PyPI ``bm3d`` package, batched over a process pool.

The package wraps the compiled ``bm4d`` library (Linux x86-64, macOS, Windows; no Linux
aarch64) under a non-commercial licence; where it cannot load, every call fails with one
line saying so. BM3D is not learned: σ must be given, in the units of the [0, 1] image.
"""

from __future__ import annotations

import multiprocessing
import os
import weakref
from concurrent.futures import ProcessPoolExecutor
from typing import Literal

import numpy as np
import torch

Bm3dMode = Literal["auto", "rgb", "per-channel"]


class Bm3dUnavailable(RuntimeError):
    """The bm3d package cannot be imported on this platform."""


def _bm3d_module():
    try:
        import bm3d
    except (ImportError, OSError) as error:
        raise Bm3dUnavailable(
            f"BM3D is unavailable on this platform ({error}); the bm3d package needs its bm4d binary "
            "(Linux x86-64, macOS or Windows)"
        ) from None
    return bm3d


def _single_threaded_profile(bm3d):
    """The library's default ('np') settings on one thread. Its own threads aggregate in a
    varying order, so repeated calls on the same image differ by ~1e-7; parallelism comes from
    the process pool over images instead, which keeps every result bit-exact."""
    profile = bm3d.BM3DProfile()
    profile.num_threads = 1
    return profile


def _denoise_one(image: np.ndarray, sigma: float, rgb: bool) -> np.ndarray:
    """Denoise one ``[H, W, C]`` float64 image; runs in a worker process."""
    bm3d = _bm3d_module()
    profile = _single_threaded_profile(bm3d)
    if rgb:
        return bm3d.bm3d_rgb(image, sigma, profile)
    return np.stack([bm3d.bm3d(image[..., c], sigma, profile) for c in range(image.shape[-1])], axis=-1)


class Bm3dDenoiser:
    """``denoise(y, sigma)`` on a ``[B, C, H, W]`` batch in [0, 1], one image per worker process.

    ``mode='auto'`` uses the colour (opponent-space) BM3D for 3-channel images and the grayscale
    algorithm channel by channel otherwise. ``workers`` defaults to every CPU core.
    """

    def __init__(self, mode: Bm3dMode = "auto", workers: int | None = None) -> None:
        if mode not in ("auto", "rgb", "per-channel"):
            raise ValueError(f"BM3D mode must be auto, rgb or per-channel, got {mode!r}")
        if workers is not None and workers < 1:
            raise ValueError(f"BM3D workers must be at least 1, got {workers}")
        self.mode = mode
        self.workers = workers or os.cpu_count() or 1
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        """One pool for the denoiser's lifetime: starting spawned workers (each imports torch)
        costs seconds, more than BM3D spends on a batch of small images."""
        if self._executor is None:
            # spawn: forking a process that holds torch's thread pools can deadlock.
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )
            weakref.finalize(self, self._executor.shutdown)
        return self._executor

    def denoise(self, y: torch.Tensor, sigma: float) -> torch.Tensor:
        _bm3d_module()
        if sigma <= 0:
            raise ValueError(f"BM3D needs a positive noise standard deviation, got {sigma}")
        channels = y.shape[1]
        rgb = self.mode == "rgb" or (self.mode == "auto" and channels == 3)
        if rgb and channels != 3:
            raise ValueError(f"BM3D rgb mode needs 3 channels, got {channels}")
        images = [image for image in y.detach().cpu().double().permute(0, 2, 3, 1).numpy()]
        workers = min(self.workers, len(images))
        if workers <= 1:
            outputs = [_denoise_one(image, sigma, rgb) for image in images]
        else:
            chunk = max(1, len(images) // (4 * workers))
            outputs = list(
                self._pool().map(_denoise_one, images, [sigma] * len(images), [rgb] * len(images), chunksize=chunk)
            )
        result = torch.from_numpy(np.stack(outputs)).permute(0, 3, 1, 2)
        return result.to(dtype=y.dtype if y.is_floating_point() else torch.float32, device=y.device)
