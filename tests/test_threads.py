"""Threads on a shared machine: the usable cores, the claims harness processes make, the warning."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cunet_bench.host import threads


@pytest.fixture
def claims(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "claims_folder", lambda: tmp_path / "claims")
    monkeypatch.setattr(threads, "usable_cores", lambda: 2.0)
    monkeypatch.setattr(threads, "others_cores", lambda seconds=0.25: 0.0)
    return tmp_path / "claims"


def test_a_quiet_machine_gives_every_usable_core(claims):
    choice = threads.choose()
    assert choice.threads == 2 and choice.reason == "a quiet machine"
    assert (claims / f"{os.getpid()}.claim").read_text().split() == [str(os.getpid()), "2"]


def test_a_second_run_takes_what_the_first_left_and_never_none(claims):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        claims.mkdir()
        (claims / f"{sleeper.pid}.claim").write_text(f"{sleeper.pid} 1\n")
        assert threads.choose().threads == 1
        (claims / f"{sleeper.pid}.claim").write_text(f"{sleeper.pid} 2\n")
        choice = threads.choose()
        assert choice.threads == 1 and choice.claimed == 2 and "claimed by other harness runs" in choice.reason
    finally:
        sleeper.kill()
        sleeper.wait()
    assert threads.choose().threads == 2  # the claim of a process that ended is stale and removed
    assert not (claims / f"{sleeper.pid}.claim").exists()


def test_other_processes_leave_fewer_cores(claims, monkeypatch):
    monkeypatch.setattr(threads, "others_cores", lambda seconds=0.25: 1.0)
    choice = threads.choose()
    assert choice.threads == 1 and "other processes use 1.0" in choice.reason
    assert threads.choose(requested=3).threads == 3


def test_the_cgroup_quota_and_the_affinity_bound_the_usable_cores():
    assert 1 <= threads.usable_cores() <= (os.cpu_count() or 1)


def test_on_a_busy_machine_a_refusal_is_still_one_line_and_work_gets_the_warning(claims, monkeypatch, capsys, tmp_path):
    from cunet_bench.cli.app import main

    monkeypatch.setattr(threads, "others_cores", lambda seconds=0.25: 1.5)

    def bench(*args):
        monkeypatch.setattr(sys, "argv", ["bench", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
        return exit_.value.code, capsys.readouterr().err

    code, err = bench("sample", "--checkpoint", str(tmp_path / "missing.safetensors"))
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err, err
    code, err = bench(
        "solvers", "--preset", "smoke", "--batch", "1", "--repeats", "1", "--no-compile", "--out", str(tmp_path / "r")
    )
    assert code == 0 and err.count("bench: warning: the machine is busy (other processes use 1.5 core(s))") == 1, err


def test_a_fifo_among_the_claims_is_skipped_not_waited_on(claims):
    claims.mkdir()
    os.mkfifo(claims / "12345.claim")
    assert threads.choose().threads == 2  # reading the fifo would block every command


HOLDER = """
import sys, time
from cunet_bench.host import threads
with threads.computing_threads():
    print("claimed", flush=True)
    time.sleep(60)
"""


def test_the_suite_does_not_see_the_claims_of_the_users_own_runs():
    """The suite keeps its claims apart (CUNET_BENCH_STATE, set by conftest): a bench process of
    the same user holding a claim in the default folder leaves the suite's choice unchanged."""
    environment = {k: v for k, v in os.environ.items() if k != threads.STATE_ENVIRONMENT}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, env=environment)
    try:
        assert holder.stdout.readline().strip() == "claimed"
        default = Path(tempfile.gettempdir()) / f"cunet-bench-threads-{os.getuid()}"
        assert (default / f"{holder.pid}.claim").is_file() and threads._claimed(default) >= 1
        assert threads.claims_folder() != default and threads._claimed(threads.claims_folder()) == 0
    finally:
        holder.kill()
        holder.wait()


def test_the_threads_of_a_command_are_its_own(claims):
    """A process that runs several commands (the tests, bench all) gets its setting back after each."""
    import torch

    before, omp = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    with threads.computing_threads(1):
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    assert torch.get_num_threads() == before and os.environ.get("OMP_NUM_THREADS") == omp
