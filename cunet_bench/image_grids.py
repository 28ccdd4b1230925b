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


def labelled_grid_png(columns: dict[str, torch.Tensor], title: str, scale: int = 1) -> bytes:
    """PNG bytes of images in [0, 1] laid out one column per entry of ``columns`` (each ``[rows, C,
    H, W]``), with the column labels and a title drawn above them, so the figure says what it shows
    wherever it is opened."""
    from PIL import Image, ImageDraw, ImageFont

    stacked = torch.stack(list(columns.values()), dim=1)  # [rows, columns, C, H, W]
    body = Image.open(io.BytesIO(image_grid_png(stacked.flatten(0, 1) * 2 - 1, columns=len(columns), scale=scale)))
    font = ImageFont.load_default()
    cell = body.width / len(columns)
    line = 12
    header = Image.new(body.mode, (body.width, 3 * line + 4), color=255 if body.mode == "L" else (255, 255, 255))
    draw = ImageDraw.Draw(header)
    ink = 0 if body.mode == "L" else (0, 0, 0)
    draw.text((2, 1), title, fill=ink, font=font)
    for index, label in enumerate(columns):
        words, lines = label.split(), [""]
        for word in words:
            candidate = f"{lines[-1]} {word}".strip()
            if draw.textlength(candidate, font=font) <= cell - 4 or not lines[-1]:
                lines[-1] = candidate
            else:
                lines.append(word)
        for row, text in enumerate(lines[:2]):
            draw.text((index * cell + 2, line + 2 + row * line), text, fill=ink, font=font)
    figure = Image.new(body.mode, (body.width, header.height + body.height), color=255 if body.mode == "L" else (255,) * 3)
    figure.paste(header, (0, 0))
    figure.paste(body, (0, header.height))
    buffer = io.BytesIO()
    figure.save(buffer, format="PNG")
    return buffer.getvalue()


class DenoiseGrids:
    """Collects the images ``bench denoise`` shows (``keep``) and writes, per noise level, one grid
    of clean / noisy / every method's output and, per diffusion method, one grid of its x0
    estimates along the reverse chain; one test image per row (different digits), every column
    labelled in the image."""

    STEP_MARK = " x0 @ step "

    def __init__(self, titles: dict[float, str] | None = None) -> None:
        self.kept: dict[float, dict[str, torch.Tensor]] = {}
        self.titles = titles or {}

    def keep(self, level: float, label: str, images01: torch.Tensor) -> None:
        self.kept.setdefault(level, {})[label] = images01.detach().cpu().float()

    def _write(self, path: Path, columns: dict[str, torch.Tensor], title: str) -> dict[str, list[str]]:
        scale = max(1, 96 // next(iter(columns.values())).shape[-1])
        atomic_write(path, labelled_grid_png(columns, title, scale))
        return {path.name: list(columns)}

    def write(self, folder: Path, run_id: str) -> dict[str, list[str]]:
        """Write the grids as ``RUN_ID-level…png`` under ``folder`` in the order of the noise levels;
        returns file name → column labels."""
        index: dict[str, list[str]] = {}
        for level in sorted(self.kept):
            images = self.kept[level]
            name = f"{run_id}-level{level:04g}"
            title = self.titles.get(level, f"noise level {level:g}")
            base = {label: images[label] for label in ("clean", "noisy") if label in images}
            outputs = {label: x for label, x in images.items() if label not in base and self.STEP_MARK not in label}
            index.update(self._write(folder / f"{name}-methods.png", {**base, **outputs}, title))
            for method in outputs:
                steps = {label.split(self.STEP_MARK)[1]: x for label, x in images.items()
                         if label.startswith(method + self.STEP_MARK)}
                if steps:
                    ordered = {f"x0 @ step {k}": steps[k] for k in sorted(steps, key=int)}
                    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", method).strip("_")
                    index.update(self._write(folder / f"{name}-steps-{safe}.png", {**base, **ordered},
                                             f"{title}: {method}'s x0 estimate along the reverse chain"))
        return index
