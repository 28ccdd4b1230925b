"""The shape of the code: the built wheel ships every module under ``cunet_bench``; layers point
one way; names of models live in the registry only; the command line starts without torch;
functions stay short."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {
    "cunet_bench": "cunet_bench",
    **{
        f"cunet_bench/{p.name}": f"cunet_bench/{p.name}"
        for p in (ROOT / "cunet_bench").iterdir()
        if (p / "__init__.py").is_file()
    },
    "models": "cunet_bench/models",
    "baselines": "cunet_bench/baselines",
    "benchmarks": "cunet_bench/benchmarks",
}


def test_wheel_contains_every_module(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("cunet_bench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"{package}/{path.name}" for folder, package in FOLDERS.items() for path in (ROOT / folder).glob("*.py")
    }
    assert expected <= names, sorted(expected - names)
    assert not any(name.startswith(("models/", "baselines/", "benchmarks/")) for name in names)
    assert any(name.endswith("entry_points.txt") for name in names)
    assert "cunet_bench/report/paper_values.csv" in names


def test_layout_is_flat():
    for folder in ("models", "baselines", "benchmarks"):
        assert not [p for p in (ROOT / folder).iterdir() if p.is_dir() and p.name != "__pycache__"]


ARCHITECTURE = ROOT / "docs" / "architecture.md"
FOLDER_PARTS = {"models", "baselines", "benchmarks"}
"""Top-level folders installed as parts of ``cunet_bench`` (``package-dir``)."""


def allowed_imports() -> dict[str, set[str]]:
    """The table of docs/architecture.md, "The parts and what each may import": part → parts."""
    text = ARCHITECTURE.read_text().split("## The parts and what each may import")[1].split("\n## ")[0]
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| `")]
    return {
        cells[0].strip().strip("`"): {name.strip() for name in cells[-1].split(",") if name.strip() not in ("", "—")}
        for cells in rows
    }


def part_of(path: Path) -> str:
    relative = path.relative_to(ROOT)
    if relative.parts[0] in FOLDER_PARTS:
        return relative.parts[0]
    return relative.parts[1] if len(relative.parts) > 2 else relative.stem


def harness_imports(path: Path) -> set[str]:
    """What a module imports of ``cunet_bench``, as ``part`` or ``part.module`` names."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cunet_bench":
            found |= (
                {alias.name for alias in node.names}
                if node.module == "cunet_bench"
                else {".".join(node.module.split(".")[1:3])}
            )
        elif isinstance(node, ast.Import):
            found |= {
                ".".join(alias.name.split(".")[1:3]) for alias in node.names if alias.name.startswith("cunet_bench.")
            }
    return found


def test_every_part_imports_only_what_the_architecture_allows():
    """docs/architecture.md's table is the rule: a part imports itself and the parts of its row
    (``part.module`` allows that one module only); every module belongs to a part of the table."""
    allowed = allowed_imports()
    modules = [
        p
        for folder in ("cunet_bench", *FOLDER_PARTS)
        for p in (ROOT / folder).rglob("*.py")
        if p.name != "__init__.py" or p.parent.name in FOLDER_PARTS
    ]
    broken = []
    for path in modules:
        part = part_of(path)
        if part == "__init__":
            continue
        assert part in allowed, f"{path.relative_to(ROOT)} belongs to no part of {ARCHITECTURE.name}"
        for name in harness_imports(path):
            if name.split(".")[0] != part and name not in allowed[part] and name.split(".")[0] not in allowed[part]:
                broken.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not broken, broken


def test_the_architecture_rule_catches_an_upward_import(tmp_path):
    """The reader of the table and the import scan, on what they must refuse."""
    allowed = allowed_imports()
    assert allowed["models"] == set() and allowed["errors"] == set()
    assert "report" not in allowed["run"] and "cli" not in allowed["benchmarks"]
    assert "models.solver" in allowed["report"] and "models" not in allowed["report"]
    module = tmp_path / "m.py"
    module.write_text(
        "from cunet_bench.cli.output import note\nimport cunet_bench.models.ode\nfrom cunet_bench import files\n"
    )
    assert harness_imports(module) == {"cli.output", "models.ode", "files"}


TORCH_FREE = (
    "cunet_bench/config",
    "cunet_bench/records/schema.py",
    "benchmarks/__init__.py",
    "models/solver.py",
    "cunet_bench/report",
)
"""What the command line parses with, the row schema, the benchmark contract and the report: no torch."""


def test_light_modules_import_no_torch():
    """At import time, that is: a function may import torch when it runs."""
    import ast

    for where in TORCH_FREE:
        path = ROOT / where
        for source in [path] if path.is_file() else sorted(path.glob("*.py")):
            for node in ast.parse(source.read_text()).body:
                names = (
                    [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                assert not [name for name in names if name.split(".")[0] == "torch"], source.relative_to(ROOT)


def test_the_run_part_names_no_benchmark():
    """The runner and the pipeline receive benchmarks from the registry, never one benchmark's module."""
    for path in (ROOT / "cunet_bench" / "run").glob("*.py"):
        assert not [name for name in harness_imports(path) if name.startswith("benchmarks.")], path.name


def test_the_top_level_holds_its_parts():
    """``cunet_bench/`` holds its parts and a few modules beside them."""
    modules = [p.name for p in (ROOT / "cunet_bench").glob("*.py")]
    packages = [p.name for p in (ROOT / "cunet_bench").iterdir() if (p / "__init__.py").is_file()]
    assert len(modules) <= 15, modules
    for package in packages:
        docstring = (ROOT / "cunet_bench" / package / "__init__.py").read_text()
        assert docstring.startswith('"""') and len(docstring) > 150, f"{package} says what it owns"


def test_the_cli_names_no_benchmark():
    """The command line holds no per-benchmark option list: the benchmark commands are built from
    the registry (``cli.commands``), so no CLI module imports one benchmark's module."""
    for path in (ROOT / "cunet_bench" / "cli").glob("*.py"):
        assert not [name for name in harness_imports(path) if name.startswith("benchmarks.")], path.name
    assert len((ROOT / "cunet_bench" / "cli" / "app.py").read_text().splitlines()) < 300


def test_the_command_line_starts_without_torch():
    """``bench --help``, ``bench models --help`` and importing the CLI load no torch; measured here."""
    import time

    script = (
        "import sys, cunet_bench.cli.app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'numpy')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
    for arguments in (["--help"], ["models", "--help"], ["report", "--help"]):
        script = (
            "import sys; from cunet_bench.cli.app import app; "
            f"app({arguments!r}, prog_name='bench', standalone_mode=False); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "[]", arguments
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from cunet_bench.cli.app import main"], check=True, timeout=120)
    assert time.perf_counter() - started < 3  # bench --help: well under a second on a quiet machine


def _string_constants(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a module, but the package names of ``provenance.PACKAGES``."""
    import ast

    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for assign in ast.walk(tree)
        if isinstance(assign, ast.Assign) and any(getattr(target, "id", "") == "PACKAGES" for target in assign.targets)
        for node in ast.walk(assign.value)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped
    ]


def test_no_model_name_outside_the_registry():
    """The catalogue and the model specs name models; every other module finds them by tag."""
    from cunet_bench.registry.suite import REGISTRY

    names = set(REGISTRY.names())
    allowed = {ROOT / "cunet_bench" / "registry" / "catalogue.py", ROOT / "cunet_bench" / "registry" / "spec.py"}
    sources = [
        p
        for folder in ("cunet_bench", "benchmarks", "models", "baselines")
        for p in (ROOT / folder).rglob("*.py")
        if p not in allowed
    ]
    found = [
        f"{p.relative_to(ROOT)}:{line} {text!r}"
        for p in sources
        for line, text in _string_constants(p)
        if text in names
    ]
    assert not found, found


MAX_STATEMENTS = 40
"""Statements of a function, nested ones counted: a measure of its size that the formatter's line
breaks do not change."""


def test_functions_stay_short():
    """No function of the core or the benchmarks over :data:`MAX_STATEMENTS` statements."""
    import ast

    long = []
    for folder in ("cunet_bench", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    statements = sum(isinstance(inner, ast.stmt) for inner in ast.walk(node)) - 1
                    if statements > MAX_STATEMENTS:
                        long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({statements})")
    assert not long, long


def test_test_names_are_unique():
    import ast

    seen: dict[str, str] = {}
    for path in (ROOT / "tests").glob("test_*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                assert node.name not in seen, f"{node.name} in {path.name} and {seen[node.name]}"
                seen[node.name] = path.name
