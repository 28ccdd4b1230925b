"""Distances between two sets of image features: the Fréchet distance (the formula of FID,
Heusel et al. 2017) and the kernel inception distance (KID, Bińkowski et al. 2018).

Both are distances between distributions, so they serve ``bench fid`` (generated vs training
images) and the perception index of ``bench denoise`` (denoised vs clean images; Blau &
Michaeli 2018 define perception as such a divergence). What they are called depends on the
feature space; see ``cunet_bench.measure.features``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cunet_bench.errors import UserError


@dataclass(frozen=True)
class GaussianStats:
    """Mean and covariance of a feature set, with its size (FID is biased at small N)."""

    mean: np.ndarray
    covariance: np.ndarray
    count: int


def gaussian_stats(features: np.ndarray) -> GaussianStats:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise UserError(f"a Fréchet distance needs at least 2 feature vectors, got shape {features.shape}")
    return GaussianStats(features.mean(axis=0), np.cov(features, rowvar=False), len(features))


def psd_root(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix (negative rounding clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(a: GaussianStats, b: GaussianStats, b_root: np.ndarray | None = None) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2(ΣaΣb)^½), the formula of FID (Heusel et al. 2017).

    Tr (ΣaΣb)^½ is computed as the sum of the square roots of the eigenvalues of the symmetric
    Σb^½ Σa Σb^½, which has the eigenvalues of ΣaΣb: the value of pytorch-fid's ``sqrtm``-based
    implementation (every published FID's; equal to 1e-6 relative, ``tests/test_fid.py``), without
    its iterative matrix square root, and defined for singular covariances without ε. ``b_root``
    (Σb^½) may be passed when ``b`` is a fixed reference compared many times (bootstrap replicates)."""
    root = psd_root(b.covariance) if b_root is None else b_root
    middle = root @ a.covariance @ root
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    difference = a.mean - b.mean
    value = float(difference @ difference + np.trace(a.covariance) + np.trace(b.covariance) - 2 * trace_root)
    if not np.isfinite(value):
        raise UserError("the Fréchet distance could not be computed: the feature statistics are not finite")
    return value


def kernel_distance(
    a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: the unbiased MMD² with the cubic polynomial kernel k(x, y) = (x·y/d + 1)³, averaged
    over random subsets of both sets; returns (mean, std over subsets)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise UserError(f"KID needs at least 2 feature vectors in each set, got {len(a)} and {len(b)}")
    dims = a.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        k_xx = (x @ x.T / dims + 1) ** 3
        k_yy = (y @ y.T / dims + 1) ** 3
        k_xy = (x @ y.T / dims + 1) ** 3
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (size * (size - 1))
        values.append(within - 2 * k_xy.mean())
    return float(np.mean(values)), float(np.std(values))
