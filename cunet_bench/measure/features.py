"""Feature spaces for distribution distances (``bench fid``, the perception index of ``bench denoise``).

* ``inception``: pytorch-fid's Inception v3 (pool3, 2048-d, or an earlier block with --dims)
  with the verified ``pt_inception-2015-12-05`` weights: distances in it are FID and KID.
* ``classifier``: a small CNN the harness trains on the dataset's own labels, for machines
  without the Inception weights (as here). Distances in its 64-d penultimate features are a
  Fréchet distance and a KID too, but not comparable with published FIDs, so they carry other
  names ("FD-classifier", "KD-classifier") everywhere they are recorded. The trained classifier
  is cached as safetensors with the fingerprint of the data it learned from and its test accuracy.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from unittest import mock

import numpy as np
import torch
from torch import nn

from cunet_bench.config.seeding import generator
from cunet_bench.data import INFO, load_dataset
from cunet_bench.errors import MetricUnavailable, UserError, warn
from cunet_bench.records.checkpoints import load_state, read_safetensors, write_safetensors

FEATURE_KINDS = ("auto", "inception", "classifier")
INCEPTION_DIMS = (64, 192, 768, 2048)
CLASSIFIER_FORMAT = "cunet-bench-feature-classifier-v1"
CLASSIFIER_DIMS = 64
MAX_CLASSES = 1000
"""The most classes a cached feature classifier may declare (its data sets have 10 or 2)."""


@dataclass(frozen=True)
class ClassifierTraining:
    steps: int = 400
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0


@dataclass
class FeatureExtractor:
    """Images in [-1, 1] → one feature vector per image."""

    kind: str
    key: str
    """Identifies the feature space in caches (reference statistics are cached by it)."""
    distance_name: str
    kernel_name: str
    dims: int
    network: nn.Module
    prepare: Callable[[torch.Tensor], torch.Tensor]
    device: str
    description: str
    batch_size: int = 256
    scale: float = 1.0
    """Features are multiplied by it (the classifier's are brought to unit RMS on its training set)."""
    head: nn.Module | None = None
    """The classifier's last layer (features → class logits), where the space has one."""

    @torch.no_grad()
    def class_probabilities(self, images: torch.Tensor) -> np.ndarray | None:
        """Softmax over the dataset's classes per image, or None without a classifier head."""
        if self.head is None:
            return None
        features = torch.from_numpy(self(images) / self.scale).float().to(self.device)
        return torch.softmax(self.head(features), dim=1).double().cpu().numpy()

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        parts = []
        for first in range(0, len(images), self.batch_size):
            batch = self.prepare(images[first : first + self.batch_size].to(self.device, torch.float32))
            parts.append(self.network(batch).flatten(1).double().cpu().numpy() * self.scale)
        return np.concatenate(parts) if parts else np.zeros((0, self.dims))


class DigitClassifier(nn.Module):
    """Three 3×3 conv layers (32, 64, 64 channels, ReLU, 2×2 max-pooling after each), pooled to
    4×4, a fully connected layer to the 64-d feature vector (ReLU) and a linear head over the
    dataset's classes."""

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveMaxPool2d(4),
            nn.Flatten(),
            nn.Linear(64 * 16, CLASSIFIER_DIMS),
            nn.ReLU(),
        )
        self.head = nn.Linear(CLASSIFIER_DIMS, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def _split_tensors(
    data: str, split: str, resolution: int, data_root: str | None
) -> tuple[torch.Tensor, torch.Tensor, str]:
    dataset = load_dataset(data, split, resolution, data_root)
    if hasattr(dataset, "images"):
        return dataset.images, dataset.labels, dataset.fingerprint()
    pairs = [dataset[i] for i in range(len(dataset))]
    return torch.stack([p[0] for p in pairs]), torch.tensor([p[1] for p in pairs]), dataset.fingerprint()


def _accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        predicted = torch.cat([model(images[i : i + 512]).argmax(1) for i in range(0, len(images), 512)])
    return float((predicted == labels).double().mean())


def train_classifier(
    data: str, resolution: int, data_root: str | None = None, training: ClassifierTraining = ClassifierTraining()
) -> tuple[DigitClassifier, dict[str, str]]:
    """Train the feature classifier on the training split; returns it with its metadata
    (data fingerprint, training settings, test-split accuracy)."""
    images, labels, fingerprint = _split_tensors(data, "train", resolution, data_root)
    classes = int(labels.max()) + 1
    torch.manual_seed(training.seed)
    model = DigitClassifier(images.shape[1], classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=training.lr)
    order = generator(training.seed, 7)
    for _ in range(training.steps):
        chosen = torch.randint(len(images), (training.batch_size,), generator=order)
        loss = nn.functional.cross_entropy(model(images[chosen]), labels[chosen])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        train_features = torch.cat([model.features(images[i : i + 512]) for i in range(0, len(images), 512)])
    test_images, test_labels, _ = _split_tensors(data, "test", resolution, data_root)
    metadata = {
        "format": CLASSIFIER_FORMAT,
        "data": data,
        "resolution": str(resolution),
        "classes": str(classes),
        "data_fingerprint": fingerprint,
        "training": json.dumps(training.__dict__, sort_keys=True),
        "test_accuracy": f"{_accuracy(model, test_images, test_labels):.6f}",
        "feature_scale": repr(float(1 / train_features.square().mean().sqrt())),
    }
    return model, metadata


def load_or_train_classifier(
    data: str,
    resolution: int,
    folder: Path,
    data_root: str | None = None,
    training: ClassifierTraining = ClassifierTraining(),
) -> tuple[DigitClassifier, dict[str, str]]:
    """The cached classifier of (data, resolution) when it was trained on the same data with the
    same settings; otherwise train it and cache it (atomically)."""
    if not INFO[data].labelled:
        raise MetricUnavailable(
            f"{data} has no labels to train a feature classifier on, and the Inception "
            "weights are not installed (bench weights install --from FILE)"
        )
    path = folder / f"feature-classifier-{data}-{resolution}px.safetensors"
    fingerprint = load_dataset(data, "train", resolution, data_root).fingerprint()
    cached = _cached_classifier(path, fingerprint, training)
    if cached is not None:
        return cached
    model, metadata = train_classifier(data, resolution, data_root, training)
    write_safetensors(path, model.state_dict(), metadata, replaces=_is_classifier_cache)
    return model, metadata


def _is_classifier_cache(path: Path) -> bool:
    """A regular file at the cache's own name in the checkpoints folder is the harness's cache entry:
    stale or damaged (already warned of), it is replaced."""
    return True


def _cached_classifier(
    path: Path, fingerprint: str, training: ClassifierTraining
) -> tuple[DigitClassifier, dict[str, str]] | None:
    """The cached classifier when it was trained on the same data with the same settings; None
    when there is none, it is stale, or it is unreadable (a cache: it is retrained, with a warning)."""
    if not path.exists():
        return None
    try:
        state, metadata = read_safetensors(path, "feature classifier cache")
        if (
            metadata.get("format") != CLASSIFIER_FORMAT
            or metadata.get("data_fingerprint") != fingerprint
            or metadata.get("training") != json.dumps(training.__dict__, sort_keys=True)
        ):
            return None
        classes, accuracy, scale = (
            metadata["classes"],
            float(metadata["test_accuracy"]),
            float(metadata["feature_scale"]),
        )
        if not (classes.isascii() and classes.isdigit() and 2 <= int(classes) <= MAX_CLASSES):
            raise ValueError(f"its class count {classes[:20]!r} is not a whole number from 2 to {MAX_CLASSES}")
        if not (0 <= accuracy <= 1 and math.isfinite(scale) and scale > 0):
            raise ValueError("its test accuracy or feature scale is impossible")
        model = DigitClassifier(state["features.0.weight"].shape[1], int(classes))
        load_state(model, state, path, "feature classifier")
    except (UserError, KeyError, ValueError, IndexError) as error:
        warn(f"feature classifier cache {path} is unusable ({error}); retraining it")
        return None
    return model.eval(), metadata


def inception_network(dims: int = 2048, random_weights: bool = False) -> nn.Module:
    """pytorch-fid's InceptionV3 up to the block of ``dims`` features, its weights read from the
    verified file as tensors only (:func:`cunet_bench.measure.weights.load_tensors`; pytorch-fid itself
    would download and unpickle them). ``random_weights=True`` keeps the random initialisation —
    only for testing the code path."""
    from pytorch_fid import inception

    from cunet_bench.measure import weights

    if dims not in INCEPTION_DIMS:
        raise UserError(
            f"--dims must be one of {', '.join(map(str, INCEPTION_DIMS))} for Inception features, got {dims}"
        )
    state = None if random_weights else weights.load_tensors("inception")
    built: list[nn.Module] = []
    build_unweighted = inception._inception_v3

    def keep_built(*args, **kwargs) -> nn.Module:
        built.append(build_unweighted(*args, **kwargs))
        return built[-1]

    def our_state(*_args, **_kwargs) -> dict[str, torch.Tensor]:
        return built[-1].state_dict() if state is None else state

    with (
        mock.patch.object(inception, "_inception_v3", keep_built),
        mock.patch.object(inception, "load_state_dict_from_url", our_state),
    ):
        try:
            network = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[dims]])
        except RuntimeError as error:
            raise UserError(
                f"the installed Inception file does not fit pytorch-fid's network "
                f"({str(error).splitlines()[0][:160]}); install the published file"
            ) from None
    return network.eval().requires_grad_(False)


def _to_inception_input(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] → [0, 1] with gray repeated to RGB (pytorch-fid resizes to 299 and normalises)."""
    images = (images.clamp(-1, 1) + 1) / 2
    return images.repeat(1, 3, 1, 1) if images.shape[1] == 1 else images


class InceptionPool(nn.Module):
    """pytorch-fid's InceptionV3 returning its one output block, average-pooled to a vector as
    pytorch-fid does for the blocks before pool3."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(self.network(images)[0], 1)


def _uses_inception(kind: str) -> bool:
    from cunet_bench.measure import weights

    if kind not in FEATURE_KINDS:
        raise UserError(f"unknown features {kind!r}; choose one of {', '.join(FEATURE_KINDS)}")
    installed = weights.available("inception") is not None
    if kind == "inception" and not installed:
        raise UserError(
            "--features inception needs the Inception weights, which are not installed or fail their "
            "hash check (bench weights status; bench weights install --from FILE)"
        )
    return kind == "inception" or (kind == "auto" and installed)


def feature_dims(kind: str, dims: int | None = None) -> int:
    """The dimension ``feature_extractor`` will give, known before anything is built or trained."""
    if _uses_inception(kind):
        if dims not in (None, *INCEPTION_DIMS):
            raise UserError(
                f"--dims must be one of {', '.join(map(str, INCEPTION_DIMS))} for Inception features, got {dims}"
            )
        return dims or 2048
    if dims not in (None, CLASSIFIER_DIMS):
        raise UserError(
            f"--dims {dims} applies to Inception features; the classifier's features are {CLASSIFIER_DIMS}-d"
        )
    return CLASSIFIER_DIMS


def feature_extractor(
    kind: str,
    data: str,
    resolution: int,
    folder: Path,
    device: str = "cpu",
    dims: int | None = None,
    data_root: str | None = None,
    training: ClassifierTraining = ClassifierTraining(),
) -> FeatureExtractor:
    """The feature space for ``kind`` (``auto``: Inception when its weights are verified, else the
    dataset's classifier); raises MetricUnavailable when neither can exist."""
    if _uses_inception(kind):
        dims = dims or 2048
        network = InceptionPool(inception_network(dims)).to(device)
        return FeatureExtractor(
            "inception",
            f"inception-{dims}",
            "FID",
            "KID",
            dims,
            network,
            _to_inception_input,
            device,
            f"pytorch-fid Inception v3, {dims}-d",
            batch_size=64,
        )
    feature_dims(kind, dims)
    model, metadata = load_or_train_classifier(data, resolution, folder, data_root, training)
    key = f"classifier-{data}-{resolution}px-{metadata['data_fingerprint'][:12]}"
    description = (
        f"classifier trained on {data} labels ({CLASSIFIER_DIMS}-d, test accuracy "
        f"{float(metadata['test_accuracy']):.3f}); not Inception: not comparable with published FID"
    )
    return FeatureExtractor(
        "classifier",
        key,
        "FD-classifier",
        "KD-classifier",
        CLASSIFIER_DIMS,
        model.features.to(device),
        lambda images: images,
        device,
        description,
        scale=float(metadata["feature_scale"]),
        head=model.head.to(device),
    )
