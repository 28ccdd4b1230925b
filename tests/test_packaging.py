"""The built wheel ships every module of the four packages, under ``cunet_bench``."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"cunet_bench": "cunet_bench", "cunet_bench/report": "cunet_bench/report", "models": "cunet_bench/models", "baselines": "cunet_bench/baselines",
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


FORBIDDEN_IMPORTS = {
    "cunet_bench/report": ("cunet_bench.models", "cunet_bench.benchmarks", "cunet_bench.baselines", "cunet_bench.registry",
                           "cunet_bench.catalogue", "import torch", "from torch"),
    "cunet_bench/presets.py": ("cunet_bench.benchmarks", "cunet_bench.registry", "cunet_bench.models"),
    "models": ("cunet_bench.registry", "cunet_bench.catalogue", "cunet_bench.benchmarks"),
    "baselines": ("cunet_bench.registry", "cunet_bench.catalogue", "cunet_bench.benchmarks"),
}


def test_no_module_imports_upward():
    """The report reads results only; presets name no benchmark; model files are plain network code."""
    for where, forbidden in FORBIDDEN_IMPORTS.items():
        path = ROOT / where
        for source in ([path] if path.is_file() else sorted(path.glob("*.py"))):
            text = source.read_text()
            for name in forbidden:
                assert name not in text, f"{source.relative_to(ROOT)} imports {name}"


def test_the_cli_stays_a_parser():
    assert len((ROOT / "cunet_bench" / "cli.py").read_text().splitlines()) < 300
