"""The pretrained files the metrics need, installed from a local file, verified, and loaded as
plain tensors only.

Nothing is ever downloaded: LPIPS needs torchvision's AlexNet and FID pytorch-fid's
Inception, both looked up in the torch hub cache (``$TORCH_HOME/hub/checkpoints``), where
``bench weights install --from FILE`` puts a user-supplied copy.

What the checks prove:

* the file name's hash (the PyTorch hub convention) is the first 8 hex digits — 32 bits — of
  the published file's SHA-256: it catches a corrupt download or another version, not an
  attacker, who can find a file with the same prefix by brute force;
* ``--sha256 HEX`` pins the full 256-bit digest the user got from a source they trust; the
  pin is recorded beside the file and checked every time the file is used;
* whatever the hashes say, the file is read with ``torch.load(weights_only=True)``, which
  builds tensors and containers only and refuses any other object, so no code in a weights
  file can run; and its tensors must match the network's layout exactly.

A metric whose file is missing or fails a check is reported as unavailable or refused, never
computed with random weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

from cunet_bench.errors import MetricUnavailable, UserError
from cunet_bench.files import create_file, file_digest, read_regular, remove_harness_made


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
    "inception": WeightFile(
        "inception", "pt_inception-2015-12-05-6726825d.pth", "FID / KID (pytorch-fid Inception v3)"
    ),
}
PIN_SUFFIX = ".sha256"
FULL_DIGEST = re.compile(r"[0-9a-f]{64}")


def cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def installed_path(weight: WeightFile) -> Path:
    return cache_dir() / weight.filename


def _pin_path(weight: WeightFile) -> Path:
    return cache_dir() / (weight.filename + PIN_SUFFIX)


@lru_cache(maxsize=None)
def _digest(path: str, size: int, modified: int) -> str:
    """The file's SHA-256, computed once per (path, size, modification time)."""
    return file_digest(Path(path))


def _file_digest(path: Path) -> str:
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


def pinned_digest(weight: WeightFile) -> str | None:
    """The full SHA-256 the user pinned at install time; a malformed pin file is an error."""
    path = _pin_path(weight)
    if not path.is_file():
        return None
    text = path.read_text(errors="replace").strip()
    if not FULL_DIGEST.fullmatch(text):
        raise UserError(
            f"pin file {path} does not hold a SHA-256 (64 hex digits); reinstall with "
            f"bench weights install --from FILE --sha256 HEX"
        )
    return text


def state(weight: WeightFile) -> str:
    """``installed`` (present, prefix and any pin verified), ``missing``, ``hash mismatch`` or
    ``pin mismatch``."""
    path = installed_path(weight)
    if not path.is_file():
        return "missing"
    digest = _file_digest(path)
    if not digest.startswith(weight.hash_prefix):
        return "hash mismatch"
    pin = pinned_digest(weight)
    return "pin mismatch" if pin is not None and digest != pin else "installed"


def available(key: str) -> Path | None:
    """The verified file for ``key``, or None when it is missing or fails a hash check."""
    weight = KNOWN[key]
    return installed_path(weight) if state(weight) == "installed" else None


def load_tensors(key: str) -> dict[str, torch.Tensor]:
    """The state dict in the verified file for ``key``, read as tensors only: a file that holds
    anything else (a pickled object, whose loading could run code) is refused with one line."""
    path = available(key)
    if path is None:
        raise MetricUnavailable("weights not installed")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure of an untrusted file is a refusal
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise UserError(
            f"weights file {path} was refused: it is not plain tensors ({reason}); "
            "install the published file with bench weights install --from FILE"
        ) from None
    if (
        not isinstance(loaded, dict)
        or not loaded
        or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in loaded.items())
    ):
        raise UserError(f"weights file {path} is not a state dict of named tensors; install the published file")
    return loaded


def status() -> list[dict[str, str]]:
    rows = []
    for weight in KNOWN.values():
        pin = pinned_digest(weight)
        rows.append(
            {
                "weights": weight.key,
                "file": weight.filename,
                "needed for": weight.needed_for,
                "state": state(weight),
                "full SHA-256 pinned": "yes" if pin else "no",
                "path": str(installed_path(weight)),
            }
        )
    return rows


def check_source(source: Path | str, full_digest: str | None = None) -> WeightFile:
    """The known weights file ``source`` is a copy of, after checking the hash prefix in its name
    and, when given, its full SHA-256; one-line errors otherwise."""
    source = Path(source)
    if source.is_dir():
        raise UserError(f"weights file {source} is a folder; give the .pth file itself")
    if not source.is_file():
        raise UserError(f"weights file {source} does not exist")
    matches = [w for w in KNOWN.values() if w.filename == source.name]
    if not matches:
        names = ", ".join(w.filename for w in KNOWN.values())
        raise UserError(f"{source.name} is not a weights file the metrics use; expected one of: {names}")
    if full_digest is not None and not FULL_DIGEST.fullmatch(full_digest.strip().lower()):
        raise UserError(f"--sha256 takes the file's full SHA-256 (64 hex digits), got {full_digest[:70]!r}")
    weight = matches[0]
    actual = file_digest(Path(source))
    if not actual.startswith(weight.hash_prefix):
        raise UserError(
            f"{source} has SHA-256 {actual[:16]}…, which does not start with {weight.hash_prefix}: "
            "not the published file (corrupt or another version)"
        )
    if full_digest is not None and actual != full_digest.strip().lower():
        raise UserError(f"{source} has SHA-256 {actual}, not the pinned {full_digest.strip().lower()}")
    return weight


def install(source: Path | str, full_digest: str | None = None) -> WeightFile:
    """Copy a user-supplied weights file into the hub cache after :func:`check_source`; a full
    digest given is pinned for every later use."""
    weight = check_source(source, full_digest)
    create_file(
        installed_path(weight),
        read_regular(Path(source), MAX_WEIGHTS_BYTES),
        replaces=lambda existing: file_digest(existing).startswith(weight.hash_prefix),
    )
    pin = _pin_path(weight)
    if full_digest is None:
        remove_harness_made(pin)  # a pin (at the harness's own name) belongs to the file it was given with
    else:
        create_file(pin, (full_digest.strip().lower() + "\n").encode(), replaces=_at_harness_name)
    return weight


MAX_WEIGHTS_BYTES = 2**30
"""Larger than any weights file the metrics use (AlexNet's is 233 MB)."""


def _at_harness_name(path: Path) -> bool:
    """A regular file at a name only the harness gives (a pin beside the weights it installed) is
    its own to replace, damaged or not."""
    return True


HASH_CHECKS = (
    "the SHA-256 starts with the 8 hex digits in the file name (32 bits: catches corruption or another "
    "version, not a deliberate forgery)"
)


def verification_rows(load_network: dict[str, Callable[[], object]]) -> list[dict[str, str]]:
    """What ``bench weights verify`` checked for each file: the hash prefix, the full pin, that it
    loads as plain tensors, and that the tensors fit the network (``load_network[key]()`` builds
    the network from the installed file and raises a UserError when they do not)."""
    rows = []
    for weight in KNOWN.values():
        current = state(weight)
        pin = pinned_digest(weight)
        row = {"weights": weight.key, "state": current, "checked": "—", "result": current}
        if current != "missing":
            checks = [
                HASH_CHECKS,
                f"the full SHA-256 equals the pinned {pin[:12]}…"
                if pin
                else "no full SHA-256 pinned (bench weights install --from FILE --sha256 HEX)",
            ]
            if current == "installed":
                checks.append(
                    "loads with torch.load(weights_only=True): tensors only, no code can run; every "
                    "tensor fits the network"
                )
                try:
                    load_network[weight.key]()
                    row["result"] = "verified"
                except UserError as error:
                    row["result"] = f"refused: {error}"
            row["checked"] = "; ".join(checks)
        rows.append(row)
    return rows
