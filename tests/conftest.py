import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import torch


def pytest_configure(config):
    """The suite's harness processes keep their per-user state (thread claims) in a folder of their
    own, so the suite runs beside a user's own bench runs without seeing their claims."""
    os.environ["CUNET_BENCH_STATE"] = tempfile.mkdtemp(prefix="cunet-bench-tests-")


def pytest_unconfigure(config):
    shutil.rmtree(os.environ.pop("CUNET_BENCH_STATE", ""), ignore_errors=True)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def unet_with_two_rungs(tmp_path_factory):
    """A smoke-sized U-Net with a ladder of two rungs (steps 1 and 3)."""
    folder = tmp_path_factory.mktemp("shipped-run")
    checkpoint = folder / "unet.safetensors"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cunet_bench.cli",
            "train",
            "--model",
            "unet",
            "--preset",
            "smoke",
            "--rungs",
            "2",
            "--checkpoint",
            str(checkpoint),
            "--out",
            str(folder / "results"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return checkpoint
