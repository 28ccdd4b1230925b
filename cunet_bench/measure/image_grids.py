"""PNG grids of images: generated samples (Figure 3) and denoising comparisons (Figures 5, 7–9)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import torch

from cunet_bench.files import create_file

MIN_WIDTH = 256
"""Figures are enlarged (nearest-neighbour, so pixels stay sharp) to at least this many pixels wide."""
MIN_COLUMN = 96
"""…and each labelled column to at least this many pixels (about 15 characters of the label font)."""
LABEL_LINES = 3
"""The most lines a column label wraps to."""


def image_grid_png(images: torch.Tensor, columns: int | None = None) -> bytes:
    """PNG bytes of a grid of ``[N, C, H, W]`` images in [-1, 1], filled row by row."""
    from PIL import Image
    from torchvision.utils import make_grid

    columns = columns or max(1, int(np.ceil(np.sqrt(len(images)))))
    grid = make_grid((images.clamp(-1, 1) + 1) / 2, nrow=columns, padding=2, pad_value=1.0)
    array = (grid.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    image = Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array)
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _enlarged_grid(images: torch.Tensor, columns: int):
    """The grid as a PIL image, enlarged by the smallest whole factor that makes it at least
    :data:`MIN_WIDTH` pixels wide and each column at least :data:`MIN_COLUMN` pixels wide, so
    column labels fit above their column."""
    from PIL import Image

    body = Image.open(io.BytesIO(image_grid_png(images, columns=columns)))
    scale = max(1, -(-MIN_WIDTH // body.width), -(-MIN_COLUMN * columns // body.width))
    return body.resize((body.width * scale, body.height * scale), Image.Resampling.NEAREST) if scale > 1 else body


def sample_grid_png(images: torch.Tensor, title: str) -> bytes:
    """PNG bytes of generated samples in [-1, 1] (paper Figure 3), at least :data:`MIN_WIDTH`
    pixels wide, with a title saying what they are."""
    body = _enlarged_grid(images, max(1, int(np.ceil(np.sqrt(len(images))))))
    return _with_header(body, title, [])


def labelled_grid_png(columns: dict[str, torch.Tensor], title: str) -> bytes:
    """PNG bytes of images in [0, 1] laid out one column per entry of ``columns`` (each ``[rows, C,
    H, W]``), with the column labels and a title drawn above them, so the figure says what it shows
    wherever it is opened; at least :data:`MIN_WIDTH` pixels wide."""
    stacked = torch.stack(list(columns.values()), dim=1)  # [rows, columns, C, H, W]
    body = _enlarged_grid(stacked.flatten(0, 1) * 2 - 1, len(columns))
    return _with_header(body, title, list(columns))


def _wrapped(text: str, width: float, measure) -> list[str]:
    """``text`` in lines of at most ``width`` pixels (``measure`` gives a string's width): broken at
    spaces, then at hyphens, then anywhere, so no word runs into its neighbour's column."""
    lines = [""]
    for word in text.split():
        candidate = f"{lines[-1]} {word}".strip()
        if measure(candidate) <= width:
            lines[-1] = candidate
            continue
        if lines[-1]:
            lines.append("")
        for piece in re.findall(r"[^-]+-?", word):
            if measure(lines[-1] + piece) > width and lines[-1]:
                lines.append("")
            while measure(piece) > width and len(piece) > 1:
                cut = 1
                while cut < len(piece) and measure(piece[: cut + 1]) <= width:
                    cut += 1
                lines[-1] += piece[:cut]
                lines.append("")
                piece = piece[cut:]
            lines[-1] += piece
    return [line for line in lines if line]


def _with_header(body, title: str, labels: list[str]) -> bytes:
    """``body`` under a header with ``title`` wrapped to the figure's width and, above each of its
    equal columns, its label wrapped to the column's width."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    white, ink = (255, 0) if body.mode == "L" else ((255, 255, 255), (0, 0, 0))
    cell = body.width / max(1, len(labels))
    line = 12
    measure = ImageDraw.Draw(Image.new(body.mode, (1, 1))).textlength
    title_lines = _wrapped(title, body.width - 4, lambda text: measure(text, font=font))
    label_lines = [_wrapped(label, cell - 4, lambda text: measure(text, font=font))[:LABEL_LINES] for label in labels]
    label_rows = max((len(lines) for lines in label_lines), default=0)
    header = Image.new(body.mode, (body.width, (len(title_lines) + label_rows) * line + 6), color=white)
    draw = ImageDraw.Draw(header)
    for row, text in enumerate(title_lines):
        draw.text((2, 1 + row * line), text, fill=ink, font=font)
    top = len(title_lines) * line + 4
    for index, lines in enumerate(label_lines):
        for row, text in enumerate(lines):
            draw.text((index * cell + 2, top + row * line), text, fill=ink, font=font)
    figure = Image.new(body.mode, (body.width, header.height + body.height), color=white)
    figure.paste(header, (0, 0))
    figure.paste(body, (0, header.height))
    buffer = io.BytesIO()
    figure.save(buffer, format="PNG")
    return buffer.getvalue()


class DenoiseGrids:
    """Collects the images ``bench denoise`` shows (``keep``) and writes, per noise level, one grid
    of clean / noisy / every method's output and, per diffusion method and scoring target, one
    grid of its iterate (what the verdicts score) or of its x0 estimate along the reverse chain;
    one test image per row (different digits), every column labelled in the image."""

    TARGETS = ("iterate", "x0")

    def __init__(self, titles: dict[float, str] | None = None) -> None:
        self.kept: dict[float, dict[str, torch.Tensor]] = {}
        self.titles = titles or {}

    @staticmethod
    def step_label(method: str, target: str, step: int) -> str:
        return f"{method} {target} @ step {step}"

    def keep(self, level: float, label: str, images01: torch.Tensor) -> None:
        self.kept.setdefault(level, {})[label] = images01.detach().cpu().float()

    def _write(self, path: Path, columns: dict[str, torch.Tensor], title: str) -> dict[str, list[str]]:
        create_file(path, labelled_grid_png(columns, title))
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
            outputs = {label: x for label, x in images.items() if label not in base and " @ step " not in label}
            index.update(
                self._write(folder / f"{name}-methods.png", {**base, **outputs}, f"{title}: every method's output")
            )
            for method in outputs:
                safe = re.sub(r"[^A-Za-z0-9._-]+", "_", method).strip("_")
                for target in self.TARGETS:
                    prefix = f"{method} {target} @ step "
                    steps = {int(label[len(prefix) :]): x for label, x in images.items() if label.startswith(prefix)}
                    if steps:
                        ordered = {f"{target} @ step {k}": steps[k] for k in sorted(steps)}
                        what = "iterate (the scoring of the verdicts)" if target == "iterate" else "x0 estimate"
                        index.update(
                            self._write(
                                folder / f"{name}-steps-{target}-{safe}.png",
                                {**base, **ordered},
                                f"{title}: {method}'s {what} along the reverse chain",
                            )
                        )
        return index
