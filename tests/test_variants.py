"""Optional speed variants never take a measurement down: two processes compiling into one cache
both finish, and a damaged cache entry (a compile stopped half-way) is wiped and rebuilt."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json, torch
from cunet_bench.benchmarks.variants import prepare_variant
model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1)).eval()
call, rows = prepare_variant(model, (torch.randn(1, 1, 8, 8),), "compiled", "cpu")
call()
print(json.dumps(rows))
"""


def _compile(environment):
    return subprocess.Popen([sys.executable, "-c", SCRIPT], env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finished(process):
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-2000:]
    rows = json.loads(out.strip().splitlines()[-1])
    assert [row["status"] for row in rows] == ["ok", "ok"] and rows[1]["value"] < 1e-5
    return err


@pytest.mark.slow
def test_compiling_together_and_a_damaged_cache(tmp_path):
    environment = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    first, second = _compile(environment), _compile(environment)
    for process in (first, second):
        _finished(process)
    libraries = list((tmp_path / "inductor").rglob("*.so"))
    assert libraries
    for library in libraries:
        library.write_bytes(b"")  # what a compile stopped half-way leaves
    err = _finished(_compile(environment))
    assert "wiping the compile cache" in err and "file too short" in err
    assert all(library.stat().st_size > 0 for library in (tmp_path / "inductor").rglob("*.so"))
