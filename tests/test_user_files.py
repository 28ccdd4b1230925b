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
    from test_bad_input import without_busy_warning

    monkeypatch.setattr(sys, "argv", ["bench", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code, without_busy_warning(capsys.readouterr().err)


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
    import hashlib

    out = tmp_path / "o"
    code, err = _report(monkeypatch, capsys, results, out)
    assert code == 0, err
    figures = out / "figures"
    header, *listed = (figures / MANIFEST).read_text().splitlines()
    digest = hashlib.sha256((figures / "training.png").read_bytes()).hexdigest()
    assert listed == [f"{digest}  training.png"] and (figures / "training.png").stat().st_size > 1000
    (figures / "mine.txt").write_text("the user's notes")
    (figures / "old-figure.png").write_bytes(b"stale")
    (figures / "thesis.png").write_bytes(b"the user's figure")
    stale = hashlib.sha256(b"stale").hexdigest()
    (figures / MANIFEST).write_text(f"{header}\n{digest}  training.png\n{stale}  old-figure.png\n{stale}  thesis.png\n")
    code, err = _report(monkeypatch, capsys, results, out)
    assert code == 0, err
    assert (figures / "mine.txt").read_text() == "the user's notes"
    assert (figures / "thesis.png").read_bytes() == b"the user's figure"  # listed, but not the bytes listed
    assert not (figures / "old-figure.png").exists()
    assert sorted(p.name for p in figures.iterdir()) == sorted([MANIFEST, "mine.txt", "thesis.png", "training.png"])
    assert not list(out.glob(".figures-*")) and not list(out.glob("*.lock"))


@pytest.mark.parametrize(
    "manifest",
    [
        "training.png\nthesis.txt\n",
        "{header}\n{digest}  ../../escape.png\n",
        "{header}\n{digest}  mydata\n",
        "{header}\n\0",
        "link",
    ],
    ids=["old format", "a path", "a folder", "a NUL byte", "a link"],
)
def test_a_manifest_the_report_did_not_write_is_refused_before_any_work(
    monkeypatch, capsys, results, tmp_path, manifest
):
    from cunet_bench.report.figure_folder import MANIFEST_HEADER

    out = tmp_path / "o"
    figures = out / "figures"
    (figures / "mydata").mkdir(parents=True)
    (figures / "mydata" / "results.csv").write_text("1,2")
    (figures / "thesis.txt").write_text("the user's")
    if manifest == "link":
        (tmp_path / "list.txt").write_text("thesis.txt\n")
        (figures / MANIFEST).symlink_to(tmp_path / "list.txt")
    else:
        (figures / MANIFEST).write_text(manifest.format(header=MANIFEST_HEADER, digest="0" * 64))
    for dry_run in ((), ("--dry-run",)):
        code, err = _report(monkeypatch, capsys, results, out, *dry_run)
        assert code == 2 and len(err.strip().splitlines()) == 1 and str(figures / MANIFEST) in err, err
    assert (figures / "mydata" / "results.csv").read_text() == "1,2" and (figures / "thesis.txt").exists()
    assert sorted(p.name for p in out.iterdir()) == ["figures"]


@pytest.mark.parametrize("what", ["link", "user's file", "fifo", "folder"])
def test_a_report_path_the_report_did_not_write_is_refused_before_any_work(
    monkeypatch, capsys, results, tmp_path, what
):
    out = tmp_path / "o"
    out.mkdir()
    report, mine = out / "REPORT.md", tmp_path / "mine.md"
    mine.write_text("the user's")
    if what == "link":
        report.symlink_to(mine)
    elif what == "user's file":
        report.write_text("# My report\n")
    elif what == "fifo":
        os.mkfifo(report)
    else:
        report.mkdir()
    for dry_run in ((), ("--dry-run",)):
        code, err = _report(monkeypatch, capsys, results, out, *dry_run)
        assert code == 2 and len(err.strip().splitlines()) == 1 and f"report {report}" in err, err
    assert mine.read_text() == "the user's" and sorted(p.name for p in out.iterdir()) == ["REPORT.md"]
    if what == "user's file":
        assert report.read_text() == "# My report\n"


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


@pytest.mark.parametrize("what", ["user's file", "link", "folder", "another run's rung"])
def test_a_rung_path_holding_anything_is_refused_before_the_first_step(monkeypatch, capsys, tmp_path, what):
    """A fresh run never writes over or through what stands where one of its rungs will go, and
    never replaces another run's rungs: one line naming it, before any training."""
    checkpoint = tmp_path / "c" / "dncnn.safetensors"
    train = ("train", "--preset", "smoke", "--model", "dncnn", "--out", str(tmp_path / "r"), "--checkpoint")
    rung = tmp_path / "c" / "dncnn.step0000003.safetensors"
    mine = tmp_path / "mine.txt"
    mine.write_text("the user's")
    rung.parent.mkdir()
    if what == "user's file":
        rung.write_text("the user's rung-named file")
    elif what == "link":
        rung.symlink_to(mine)
    elif what == "folder":
        rung.mkdir()
    else:
        earlier = tmp_path / "c" / "earlier.safetensors"
        assert bench(monkeypatch, capsys, *train, str(earlier))[0] == 0
        (tmp_path / "c" / "earlier.step0000003.safetensors").rename(rung)
    before = rung.read_bytes() if rung.is_file() else None
    code, err = bench(monkeypatch, capsys, *train, str(checkpoint))
    assert code == 2 and len(err.strip().splitlines()) == 1 and f"{rung} is in the way of this run's rung" in err, err
    assert not checkpoint.exists() and mine.read_text() == "the user's"
    assert (rung.read_bytes() if rung.is_file() else None) == before and (rung.is_symlink() or rung.exists())


def test_a_rung_is_never_resumed_and_shares_its_runs_identity(monkeypatch, capsys, tmp_path):
    from cunet_bench.records.checkpoints import read_checkpoint
    from cunet_bench.records.ladder import read_ladder

    checkpoint = tmp_path / "dncnn.safetensors"
    train = ("train", "--preset", "smoke", "--model", "dncnn", "--out", str(tmp_path / "r"), "--resume")
    assert bench(monkeypatch, capsys, *train, "--checkpoint", str(checkpoint))[0] == 0
    rung = tmp_path / "dncnn.step0000001.safetensors"
    before = rung.read_bytes()
    code, err = bench(monkeypatch, capsys, *train, "--train-steps", "6", "--checkpoint", str(rung))
    assert code == 2 and "is a rung of a run's ladder, kept as it was at step 1" in err, err
    assert rung.read_bytes() == before
    ladder = read_ladder(checkpoint)
    assert [r.step for r in ladder] == [1, 3] and read_checkpoint(rung).run_id == read_checkpoint(checkpoint).run_id


def test_a_job_outcome_path_holding_anything_is_refused_before_the_step_runs(monkeypatch, capsys, tmp_path):
    from cunet_bench.benchmarks.train import TrainRunConfig
    from cunet_bench.config.presets import get_preset
    from cunet_bench.run.side_by_side import Job, outcome_path

    config = TrainRunConfig.from_preset(get_preset("smoke"), model="dncnn", checkpoints=str(tmp_path / "c"))
    for what in ("link", "folder"):
        job = tmp_path / f"job-{what}.json"
        Job("train dncnn", config, tmp_path / "results", "smoke", {"id": "x"}, "training").write(job)
        (tmp_path / "mine.txt").write_text("the user's")
        if what == "link":
            outcome_path(job).symlink_to(tmp_path / "mine.txt")
        else:
            outcome_path(job).mkdir()
        code, err = bench(monkeypatch, capsys, "run-step", str(job))
        assert code == 2 and len(err.strip().splitlines()) == 1 and f"{outcome_path(job)} is a" in err, err
        assert not (tmp_path / "c").exists() and (tmp_path / "mine.txt").read_text() == "the user's"
