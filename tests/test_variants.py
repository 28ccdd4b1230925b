"""Optional speed variants never take a measurement down: two processes compiling into one cache
both finish, and a damaged entry in the harness's cache (a compile stopped half-way) is wiped and
rebuilt, while a cache folder the user named is never wiped. The
frozen variant folds the weights in and still computes the model. The command line compiles into
the harness's own cache folder, not inductor's shared one."""

import json
import os
import subprocess
import sys

import pytest
import torch
from cunet_bench.benchmarks.variants import prepare_variant

SCRIPT = """
import json
from cunet_bench.host.compile_cache import compile_cache
compile_cache()  # as the command line does, before torch's compiler is imported
import torch
from cunet_bench.benchmarks.variants import prepare_variant
model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1)).eval()
call, rows = prepare_variant(model, (torch.randn(1, 1, 8, 8),), "compiled", "cpu")
call()
print(json.dumps(rows))
"""


def _compile(environment):
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finished(process):
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-2000:]
    rows = json.loads(out.strip().splitlines()[-1])
    assert [row["status"] for row in rows] == ["ok", "ok"] and rows[1]["value"] < 1e-5
    return err


@pytest.mark.slow
def test_compiling_together_and_a_damaged_cache(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "TORCHINDUCTOR_CACHE_DIR"}
    environment["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    harness_folder = tmp_path / "cache" / "cunet-bench" / "inductor"
    first, second = _compile(environment), _compile(environment)
    for process in (first, second):
        _finished(process)
    libraries = list(harness_folder.rglob("*.so"))
    assert libraries
    for library in libraries:
        library.write_bytes(b"")  # what a compile stopped half-way leaves
    err = _finished(_compile(environment))
    assert "wiping the compile cache" in err and "file too short" in err
    assert all(library.stat().st_size > 0 for library in harness_folder.rglob("*.so"))


@pytest.mark.slow
def test_the_frozen_variant_computes_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    torch.manual_seed(0)
    layers = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Softplus(), torch.nn.Conv2d(4, 1, 1)
    model = torch.nn.Sequential(*layers).eval()
    x = torch.randn(2, 1, 8, 8)
    call, rows = prepare_variant(model, (x,), "frozen", "cpu")
    assert [row["metric"] for row in rows] == ["first_call_s", "max_abs_difference_from_eager"]
    assert rows[1]["value"] < 1e-5
    with torch.no_grad():
        torch.testing.assert_close(call(), model(x), rtol=1e-5, atol=1e-5)


CACHE_SCRIPT = """
import os, typer
from cunet_bench.cli.entry import run_app
app = typer.Typer()
@app.command()
def show() -> None:
    import torch._inductor.config  # sets TORCHINDUCTOR_CACHE_DIR to inductor's default when unset
    print(os.environ["TORCHINDUCTOR_CACHE_DIR"])
run_app(app)
"""


@pytest.mark.parametrize("users_folder", [False, True])
def test_the_command_line_compiles_into_the_harness_cache_or_the_users(tmp_path, users_folder):
    environment = {key: value for key, value in os.environ.items() if key != "TORCHINDUCTOR_CACHE_DIR"}
    environment["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    if users_folder:
        environment["TORCHINDUCTOR_CACHE_DIR"] = str(tmp_path / "mine")
    done = subprocess.run([sys.executable, "-c", CACHE_SCRIPT], env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    expected = tmp_path / "mine" if users_folder else tmp_path / "cache" / "cunet-bench" / "inductor"
    assert done.stdout.strip() == str(expected)


@pytest.mark.parametrize("users_folder", [False, True])
def test_a_failed_compile_wipes_the_harness_cache_only(tmp_path, monkeypatch, users_folder):
    """A folder the user named keeps every file of theirs; the harness's own folder is wiped and
    the compile tried once more."""
    from cunet_bench.benchmarks import variants

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "mine" if users_folder else tmp_path / "cache" / "cunet-bench" / "inductor"
    if users_folder:
        monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(folder))
    else:
        monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    folder.mkdir(parents=True)
    (folder / "kept.txt").write_text("the user's")
    attempts = []

    def failing(model, freezing):
        attempts.append(freezing)
        raise RuntimeError("CXX=/bin/false")

    monkeypatch.setattr(variants, "_compiled", failing)
    model = torch.nn.Conv2d(1, 1, 1)
    call, rows = prepare_variant(model, (torch.randn(1, 1, 4, 4),), "compiled", "cpu")
    assert call is None and rows[0]["status"] == "failed" and "CXX=/bin/false" in rows[0]["reason"]
    assert len(attempts) == (1 if users_folder else 2)
    assert (folder / "kept.txt").exists() == users_folder
