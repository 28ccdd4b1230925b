"""The pretrained files the metrics need, installed from a local file and verified by hash.

Nothing is ever downloaded: LPIPS needs torchvision's AlexNet and FID pytorch-fid's
Inception, both looked up in the torch hub cache (``$TORCH_HOME/hub/checkpoints``), where
``bench weights install --from FILE`` puts a user-supplied copy after checking that its
SHA-256 starts with the hash in its name (the PyTorch hub convention). A metric whose file is
missing or fails the check is reported as unavailable, never computed with random weights.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from cunet_bench.errors import UserError
from cunet_bench.records import atomic_replace


@dataclass(frozen=True)
class WeightFile:
    key: str
    filename: str
    needed_for: str

    @property
    def hash_prefix(self) -> str:
        """The hex digits after the last '-' of the name: the start of the file's SHA-256."""
        return Path(self.filename).stem.rsplit("-", 1)[-1]


KNOWN = {
    "alexnet": WeightFile("alexnet", "alexnet-owt-7be5be79.pth", "LPIPS (AlexNet backbone, torchvision)"),
    "inception": WeightFile("inception", "pt_inception-2015-12-05-6726825d.pth", "FID / KID (pytorch-fid Inception v3)"),
}


def cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=None)
def _verified(path: str, size: int, modified: int, prefix: str) -> bool:
    return sha256(Path(path)).startswith(prefix)


def state(weight: WeightFile) -> str:
    """``installed`` (present and verified), ``missing`` or ``hash mismatch``."""
    path = cache_dir() / weight.filename
    if not path.is_file():
        return "missing"
    stat = path.stat()
    return "installed" if _verified(str(path), stat.st_size, stat.st_mtime_ns, weight.hash_prefix) else "hash mismatch"


def available(key: str) -> Path | None:
    """The verified file for ``key``, or None when it is missing or corrupt."""
    weight = KNOWN[key]
    return cache_dir() / weight.filename if state(weight) == "installed" else None


def status() -> list[dict[str, str]]:
    return [{"weights": w.key, "file": w.filename, "needed for": w.needed_for, "state": state(w),
             "path": str(cache_dir() / w.filename)} for w in KNOWN.values()]


def install(source: Path | str) -> WeightFile:
    """Copy a user-supplied weights file into the hub cache after checking its hash."""
    source = Path(source)
    if not source.is_file():
        raise UserError(f"weights file {source} does not exist")
    matches = [w for w in KNOWN.values() if w.filename == source.name]
    if not matches:
        names = ", ".join(w.filename for w in KNOWN.values())
        raise UserError(f"{source.name} is not a weights file the metrics use; expected one of: {names}")
    weight = matches[0]
    actual = sha256(source)
    if not actual.startswith(weight.hash_prefix):
        raise UserError(f"{source} has SHA-256 {actual[:16]}…, which does not start with {weight.hash_prefix}: "
                        "not the published file (corrupt or another version)")
    atomic_replace(cache_dir() / weight.filename, lambda temporary: shutil.copyfile(source, temporary))
    return weight
