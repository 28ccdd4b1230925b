"""PNG grids of images: generated samples (Figure 3) and denoising comparisons (Figures 5, 7–9)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import torch

from cunet_bench.files import atomic_write


def image_grid_png(images: torch.Tensor, columns: int | None = None, scale: int = 1) -> bytes:
    """PNG bytes of a grid of ``[N, C, H, W]`` images in [-1, 1], filled row by row; ``scale``
    enlarges it with nearest-neighbour pixels (small images stay sharp in a report)."""
    from PIL import Image
    from torchvision.utils import make_grid

    columns = columns or max(1, int(np.ceil(np.sqrt(len(images)))))
    grid = make_grid((images.clamp(-1, 1) + 1) / 2, nrow=columns, padding=2, pad_value=1.0)
    array = (grid.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    image = Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class DenoiseGrids:
    """Collects the images ``bench denoise`` shows (``keep``) and writes, per noise level, one grid
    of clean / noisy / every method's output and, per diffusion method, one grid of its x0
    estimates along the reverse chain; one image per row."""

    STEP_MARK = " x0 @ step "

    def __init__(self) -> None:
        self.kept: dict[float, dict[str, torch.Tensor]] = {}

    def keep(self, level: float, label: str, images01: torch.Tensor) -> None:
        self.kept.setdefault(level, {})[label] = images01.detach().cpu().float()

    def _write(self, path: Path, columns: dict[str, torch.Tensor]) -> dict[str, list[str]]:
        stacked = torch.stack(list(columns.values()), dim=1)  # [images, columns, C, H, W]
        scale = max(1, 96 // stacked.shape[-1])
        atomic_write(path, image_grid_png(stacked.flatten(0, 1) * 2 - 1, columns=len(columns), scale=scale))
        return {path.name: list(columns)}

    def write(self, folder: Path, run_id: str) -> dict[str, list[str]]:
        """Write the grids as ``RUN_ID-level…png`` under ``folder``; returns file name → column labels."""
        index: dict[str, list[str]] = {}
        for level, images in self.kept.items():
            name = f"{run_id}-level{level:g}"
            base = {label: images[label] for label in ("clean", "noisy") if label in images}
            outputs = {label: x for label, x in images.items() if label not in base and self.STEP_MARK not in label}
            index.update(self._write(folder / f"{name}-methods.png", {**base, **outputs}))
            for method in outputs:
                steps = {label.split(self.STEP_MARK)[1]: x for label, x in images.items()
                         if label.startswith(method + self.STEP_MARK)}
                if steps:
                    ordered = {f"x0 @ step {k}": steps[k] for k in sorted(steps, key=int)}
                    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", method).strip("_")
                    index.update(self._write(folder / f"{name}-steps-{safe}.png", {**base, **ordered}))
        return index
