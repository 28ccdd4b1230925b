"""Nothing of the user's is deleted or overwritten: the report replaces only the figures it drew
(its manifest lists them), writes through a README link instead of replacing it, and refuses a
``figures`` path it cannot own before any work; a stopped ``bench sample`` keeps the samples it
made; a ``bench all`` worker refuses an unwritable results folder before it trains."""

import json
import os
import sys
from pathlib import Path

import pytest
from cunet_bench.cli.app import main
from cunet_bench.records import runs
from cunet_bench.report.figure_folder import MANIFEST
from cunet_bench.report.readme import END_MARKER, START_MARKER


def bench(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["bench", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code, capsys.readouterr().err


@pytest.fixture
def results(tmp_path):
    rows = [
        {"kind": "log", "model": "unet", "step": s, "loss": 0.5, "train_seed": 0, "tags": "backbone"} for s in (1, 2, 3)
    ]
    runs.write_run("training", rows, {"bench": "training", "command": "bench train", "complete": True}, tmp_path / "r")
    return tmp_path / "r"


def _report(monkeypatch, capsys, results: Path, out: Path, *extra: str) -> tuple[int, str]:
    return bench(monkeypatch, capsys, "report", "--results", str(results), "--out", str(out), "--no-reference", *extra)


def test_the_report_replaces_only_its_own_figures(monkeypatch, capsys, results, tmp_path):
    out = tmp_path / "o"
    code, err = _report(monkeypatch, capsys, results, out)
    assert code == 0, err
    figures = out / "figures"
    drawn = (figures / MANIFEST).read_text().split()
    assert drawn == ["training.png"] and (figures / "training.png").stat().st_size > 1000
    (figures / "mine.txt").write_text("the user's notes")
    (figures / "old-figure.png").write_bytes(b"stale")
    (figures / MANIFEST).write_text("training.png\nold-figure.png\n../../escape\n")
    (tmp_path / "escape").write_text("outside")
    code, err = _report(monkeypatch, capsys, results, out)
    assert code == 0, err
    assert (figures / "mine.txt").read_text() == "the user's notes"
    assert not (figures / "old-figure.png").exists() and (tmp_path / "escape").exists()
    assert sorted(p.name for p in figures.iterdir()) == sorted([MANIFEST, "mine.txt", "training.png"])
    assert not list(out.glob(".figures-*")) and not list(out.glob("*.lock"))


@pytest.mark.parametrize("what", ["file", "dangling link", "foreign folder", "fifo manifest"])
def test_a_figures_path_the_report_cannot_own_is_one_line_before_any_work(monkeypatch, capsys, results, tmp_path, what):
    out = tmp_path / "o"
    out.mkdir()
    figures = out / "figures"
    if what == "file":
        figures.write_text("x")
    elif what == "dangling link":
        figures.symlink_to(tmp_path / "nowhere")
    elif what == "fifo manifest":
        figures.mkdir()
        os.mkfifo(figures / MANIFEST)  # read without blocking, refused as no manifest of ours
    else:
        figures.mkdir()
        (figures / "holiday.png").write_bytes(b"the user's")
    for dry_run in ((), ("--dry-run",)):
        code, err = _report(monkeypatch, capsys, results, out, *dry_run)
        assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("bench: error: "), err
        assert str(figures) in err
    assert sorted(p.name for p in out.iterdir()) == ["figures"]
    if what == "foreign folder":
        assert (figures / "holiday.png").read_bytes() == b"the user's"


def test_a_readme_that_is_a_link_is_written_through(monkeypatch, capsys, results, tmp_path):
    target = tmp_path / "docs" / "README.md"
    target.parent.mkdir()
    target.write_text(f"# mine\n{START_MARKER}\n{END_MARKER}\nend\n")
    link = tmp_path / "README.md"
    link.symlink_to(target)
    code, err = _report(monkeypatch, capsys, results, tmp_path / "o", "--readme", str(link))
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == target
    assert "## Summary" not in target.read_text() and target.read_text().startswith("# mine\n")
    assert target.read_text().endswith(f"{END_MARKER}\nend\n")


def test_a_stopped_sample_run_keeps_the_samples_it_made(tmp_path):
    """The stop arrives while the third batch is due: the first two batches are recorded, as
    a grid, an .npz and a row of a run marked incomplete."""
    import signal

    import numpy as np
    from cunet_bench.benchmarks.sample import BENCHMARK, SampleConfig
    from cunet_bench.benchmarks.train import TrainRunConfig
    from cunet_bench.config.presets import get_preset
    from cunet_bench.diffusion.loading import build_model, diffusion_of
    from cunet_bench.diffusion.training import TrainingRun
    from cunet_bench.host.interrupts import Interrupted
    from cunet_bench.run.runner import execute

    config = TrainRunConfig.from_preset(get_preset("smoke"), model="cunet-release").training
    checkpoint = tmp_path / "cunet.safetensors"
    list(TrainingRun(config, build_model(config), diffusion_of(config), checkpoint).steps())

    def stop_at_third_batch(message, done=None, total=None):
        if done == 4:
            raise Interrupted(signal.SIGTERM)

    sample_config = SampleConfig(
        checkpoint=str(checkpoint), sampling_steps=2, num_samples=10, batch_size=2, out=str(tmp_path / "r")
    )
    with pytest.raises(Interrupted):
        execute(BENCHMARK, sample_config, tmp_path / "r", stop_at_third_batch)
    (row,) = runs.load_runs("sample", tmp_path / "r").itertuples()
    (meta,) = runs.load_provenance("sample", tmp_path / "r").values()
    assert row.samples == 4 and meta["complete"] is False
    with np.load(row.npz, allow_pickle=False) as stored:
        assert stored["images"].shape[0] == 4 and list(stored["indices"]) == [0, 1, 2, 3]
    assert Path(row.png).stat().st_size > 100


def test_a_worker_refuses_an_unwritable_results_folder_before_it_trains(monkeypatch, capsys, tmp_path):
    from cunet_bench.benchmarks.train import TrainRunConfig
    from cunet_bench.config.presets import get_preset
    from cunet_bench.run.side_by_side import Job

    (tmp_path / "a-file").write_text("x")
    config = TrainRunConfig.from_preset(get_preset("smoke"), model="dncnn", checkpoints=str(tmp_path / "c"))
    job = tmp_path / "job.json"
    Job("train dncnn", config, tmp_path / "a-file" / "results", "smoke", {"id": "x"}, "training").write(job)
    assert json.loads(job.read_text())["out"].endswith("results")
    code, err = bench(monkeypatch, capsys, "run-step", str(job))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "is a file, not a folder" in err, err
    assert not (tmp_path / "c").exists()
