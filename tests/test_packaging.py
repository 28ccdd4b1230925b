"""The shape of the code: the built wheel ships every module under ``cunet_bench``; layers point
one way; names of models live in the registry only; the command line starts without torch;
functions stay short."""

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
    assert "cunet_bench/report/paper_values.csv" in names


def test_layout_is_flat():
    for folder in ("models", "baselines", "benchmarks"):
        assert not [p for p in (ROOT / folder).iterdir() if p.is_dir() and p.name != "__pycache__"]


TORCH = ("import torch", "from torch")
FORBIDDEN_IMPORTS = {
    "cunet_bench/report": ("cunet_bench.models", "cunet_bench.benchmarks", "cunet_bench.baselines", "cunet_bench.registry",
                           "cunet_bench.catalogue", *TORCH),
    "cunet_bench/presets.py": ("cunet_bench.benchmarks", "cunet_bench.registry", "cunet_bench.models"),
    "cunet_bench/schema.py": ("from cunet_bench", "import cunet_bench", *TORCH),
    "cunet_bench/benchmark.py": ("from cunet_bench", "import cunet_bench", *TORCH),
    "cunet_bench/solver_config.py": ("cunet_bench.models", *TORCH),
    "cunet_bench/training.py": ("cunet_bench.registry", "cunet_bench.catalogue"),
    "cunet_bench/runner.py": ("cunet_bench.output", "cunet_bench.cli", "cunet_bench.pipeline", "cunet_bench.benchmarks."),
    "cunet_bench/pipeline.py": ("cunet_bench.output", "cunet_bench.cli"),
    "benchmarks": ("cunet_bench.runner", "cunet_bench.pipeline", "cunet_bench.report", "cunet_bench.output",
                   "cunet_bench.cli"),
    "models": ("cunet_bench.registry", "cunet_bench.catalogue", "cunet_bench.benchmarks"),
    "baselines": ("cunet_bench.registry", "cunet_bench.catalogue", "cunet_bench.benchmarks"),
}


def test_no_module_imports_upward():
    """The report reads results only; the schema and the benchmark contract sit below everything;
    the runner and the pipeline receive their display; benchmarks never import what runs them;
    training receives a built model; model files are plain network code."""
    for where, forbidden in FORBIDDEN_IMPORTS.items():
        path = ROOT / where
        for source in ([path] if path.is_file() else sorted(path.glob("*.py"))):
            text = source.read_text()
            for name in forbidden:
                assert name not in text, f"{source.relative_to(ROOT)} imports {name}"


def test_the_cli_stays_a_parser():
    assert len((ROOT / "cunet_bench" / "cli.py").read_text().splitlines()) < 300


def test_the_command_line_starts_without_torch():
    """``bench --help``, ``bench models --help`` and importing the CLI load no torch; measured here."""
    import time

    script = ("import sys, cunet_bench.cli; "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'numpy')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
    for arguments in (["--help"], ["models", "--help"], ["report", "--help"]):
        script = ("import sys; from cunet_bench.cli import app; "
                  f"app({arguments!r}, prog_name='bench', standalone_mode=False); "
                  "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "[]", arguments
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from cunet_bench.cli import main"], check=True, timeout=120)
    assert time.perf_counter() - started < 3  # bench --help: well under a second on a quiet machine


def _string_constants(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a module, but the package names of ``provenance.PACKAGES``."""
    import ast

    tree = ast.parse(path.read_text())
    skipped = {id(node) for assign in ast.walk(tree) if isinstance(assign, ast.Assign)
               and any(getattr(target, "id", "") == "PACKAGES" for target in assign.targets)
               for node in ast.walk(assign.value)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped]


def test_no_model_name_outside_the_registry():
    """The catalogue and the model specs name models; every other module finds them by tag."""
    from cunet_bench.registry import REGISTRY

    names = set(REGISTRY.names())
    allowed = {ROOT / "cunet_bench" / "catalogue.py", ROOT / "cunet_bench" / "model_spec.py"}
    sources = [p for folder in ("cunet_bench", "benchmarks", "models", "baselines") for p in (ROOT / folder).rglob("*.py")
               if p not in allowed]
    found = [f"{p.relative_to(ROOT)}:{line} {text!r}" for p in sources for line, text in _string_constants(p)
             if text in names]
    assert not found, found


def test_functions_stay_short():
    """No function of the report, the benchmarks, training or the pipeline over 60 lines."""
    import ast

    long = []
    for folder in ("cunet_bench", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not long, long


def test_test_names_are_unique():
    import ast

    seen: dict[str, str] = {}
    for path in (ROOT / "tests").glob("test_*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                assert node.name not in seen, f"{node.name} in {path.name} and {seen[node.name]}"
                seen[node.name] = path.name
