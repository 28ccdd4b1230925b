import os
import shutil
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
