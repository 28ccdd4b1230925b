"""The built wheel ships every module of the four packages, under ``cunet_bench``."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"cunet_bench": "cunet_bench", "models": "cunet_bench/models", "baselines": "cunet_bench/baselines",
           "benchmarks": "cunet_bench/benchmarks"}


def test_wheel_contains_every_module(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )
    (wheel,) = tmp_path.glob("cunet_bench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"{package}/{path.name}" for folder, package in FOLDERS.items() for path in (ROOT / folder).glob("*.py")}
    assert expected <= names, sorted(expected - names)
    assert not any(name.startswith(("models/", "baselines/", "benchmarks/")) for name in names)
    assert any(name.endswith("entry_points.txt") for name in names)


def test_layout_is_flat():
    for folder in ("models", "baselines", "benchmarks"):
        assert not [p for p in (ROOT / folder).iterdir() if p.is_dir() and p.name != "__pycache__"]
