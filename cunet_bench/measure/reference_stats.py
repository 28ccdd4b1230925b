"""Statistics of a dataset's training split in a feature space, cached: what ``bench fid``
compares generated samples with and what ``bench denoise``'s perception index compares denoised
outputs with — clean images the outputs did not come from (the test split is disjoint)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cunet_bench.data import load_dataset
from cunet_bench.errors import warn
from cunet_bench.files import create_file, remove_harness_made
from cunet_bench.measure.distribution import GaussianStats, gaussian_stats
from cunet_bench.measure.features import FeatureExtractor

REFERENCE_MAX = 50_000
KID_FEATURES_MAX = 10_000


@dataclass
class ReferenceFeatures:
    stats: GaussianStats
    kid_features: np.ndarray
    description: str
    """Which images: e.g. ``mnist5k training split, 4,500 images``."""


def reference_features(
    extractor: FeatureExtractor, data: str, resolution: int, cache: Path, data_root: str | None = None
) -> ReferenceFeatures:
    """Statistics of the training split (its first REFERENCE_MAX images) in the extractor's
    feature space, cached by (dataset, resolution, N, extractor); KID compares against a seeded
    subset of at most KID_FEATURES_MAX of those features."""
    dataset = load_dataset(data, "train", resolution, data_root)
    count = min(len(dataset), REFERENCE_MAX)
    path = cache / "fid-reference" / f"{data}-{resolution}px-{count}-{extractor.key}.npz"
    description = f"{data} training split, {count:,} images"
    if path.exists():
        try:
            return _read_reference(path, extractor.dims, description)
        except ValueError as error:
            warn(f"reference statistics cache {path} is unusable ({error}); recomputing it")
            remove_harness_made(path)
    chunks = []
    for first in range(0, count, 1024):
        images = dataset.batch(torch.arange(first, min(first + 1024, count)))
        chunks.append(extractor(images))
    features = np.concatenate(chunks)
    stats = gaussian_stats(features)
    chosen = np.sort(np.random.default_rng(0).permutation(len(features))[:KID_FEATURES_MAX])
    kid_features = features[chosen].astype(np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, mean=stats.mean, covariance=stats.covariance, count=stats.count, kid_features=kid_features)
    create_file(path, buffer.getvalue(), keep_existing=True)
    return ReferenceFeatures(stats, kid_features, description)


def _read_reference(path: Path, dims: int, description: str) -> ReferenceFeatures:
    """Cached reference statistics; ValueError when the file is damaged, of another shape, of
    another type (strings, complex numbers) or impossible (a covariance that is not symmetric
    positive semi-definite would give a negative distance)."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            mean, covariance, kid, count = saved["mean"], saved["covariance"], saved["kid_features"], saved["count"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(str(error) or type(error).__name__) from None
    if any(array.dtype.kind != "f" for array in (mean, covariance, kid)) or count.dtype.kind not in "iu" or count.shape:
        raise ValueError("its statistics are not real numbers and a count")
    if mean.shape != (dims,) or covariance.shape != (dims, dims) or kid.ndim != 2 or kid.shape[1] != dims:
        raise ValueError(f"its statistics are not {dims}-dimensional")
    if not (np.isfinite(mean).all() and np.isfinite(covariance).all() and np.isfinite(kid).all() and int(count) >= 2):
        raise ValueError("its statistics are not finite")
    scale = max(float(np.abs(covariance).max()), 1e-300)
    if (
        not np.allclose(covariance, covariance.T, rtol=0, atol=1e-9 * scale)
        or np.linalg.eigvalsh(covariance).min() < -1e-6 * scale
    ):
        raise ValueError("its covariance is not symmetric positive semi-definite")
    return ReferenceFeatures(GaussianStats(mean, covariance, int(count)), kid, description)
