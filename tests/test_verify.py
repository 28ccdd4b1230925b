"""``bench verify`` and measurements from shipped weights: ``bench fid`` / ``bench denoise --weights``
read the shipped files as their checkpoints and ladders, and ``bench verify`` re-runs every
committed run measured from them and compares its rows number by number — equal on the committed
run's machine class, within the stated tolerances on another; a planted change is a named row and
exit 1, weights other than those the run read are one line and exit 2."""

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from cunet_bench.benchmarks.denoise import DenoiseConfig
from cunet_bench.benchmarks.fid import FidConfig
from cunet_bench.config.presets import get_preset
from cunet_bench.config.resolve import as_record, from_record
from cunet_bench.errors import UserError
from cunet_bench.models.solver import SolverConfig
from cunet_bench.records import schema
from cunet_bench.run.verify import TOLERANCES, CommittedRun, differences, tolerance_of, within_budget

from test_bad_input import bench


@pytest.fixture(scope="module")
def measured(tmp_path_factory, unet_with_two_rungs):
    """The smoke U-Net's two rungs shipped, and a fid and a denoise run measured from them."""
    folder = tmp_path_factory.mktemp("verify")
    weights, committed = folder / "weights", folder / "committed"
    for extra in (("--at-step", "1"), ()):
        _run("ship", "--checkpoint", str(unet_with_two_rungs), *extra, "--to", str(weights))
    common = ("--preset", "smoke", "--train-seeds", "0", "--weights", str(weights), "--curves")
    common += ("--out", str(committed), "--checkpoints", str(folder / "caches"))
    _run("fid", "--models", "unet", *common)
    _run("denoise", "--models", "unet,bm3d", *common)
    return weights, committed


def _run(*args):
    done = subprocess.run([sys.executable, "-m", "cunet_bench.cli", *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def test_measurements_from_shipped_weights_read_the_shipped_ladder(measured):
    weights, committed = measured
    rows = pd.read_csv(next((committed / "fid").glob("*.csv")), low_memory=False)
    assert sorted(rows[rows.kind == "rung"].rung_step.astype(int).unique()) == [1, 3]
    provenance = json.loads(next((committed / "fid").glob("*.json")).read_text())
    assert sorted(provenance["inputs"]) == sorted(
        str(weights / name)
        for name in (
            "unet-seed0-step0000001.safetensors",
            "unet-seed0-step0000003.safetensors",
        )
    )


def test_the_report_names_the_shipped_weights_it_measured(monkeypatch, capsys, tmp_path, measured):
    weights, committed = measured
    code, _, err = bench(
        monkeypatch, capsys, "report", "--results", str(committed), "--out", str(tmp_path), "--no-reference"
    )
    assert code == 0, err
    rows = pd.read_csv(next((committed / "fid").glob("*.csv")), low_memory=False)
    top = rows[(rows.kind == "rung") & (rows.rung_step == 3)].iloc[0]
    setup = (tmp_path / "REPORT.md").read_text().split("## Setup")[1].split("\n## ")[0]
    assert f"**Measured from shipped weights** (`{weights}`;" in setup
    assert f"| unet | 0 | 1, 3 | {int(top.images_seen):,} | {top.train_cpu_seconds:.4g} |" in setup


def _verify(monkeypatch, capsys, weights, against, out, *extra):
    return bench(
        monkeypatch, capsys, "verify", "--weights", str(weights), "--against", str(against), "--out", str(out), *extra
    )


def test_verify_reproduces_the_committed_rows_exactly_on_their_machine_class(monkeypatch, capsys, tmp_path, measured):
    weights, committed = measured
    code, out, err = _verify(monkeypatch, capsys, weights, committed, tmp_path / "v", "--format", "json")
    assert code == 0, err
    summary = json.loads(out)
    assert [row["run"].split()[0] for row in summary] == ["fid", "denoise"]
    assert all(row["differing"] == 0 and row["not bit-equal"] == 0 for row in summary)
    assert all(row["rule"] == "equal (same machine class)" and row["numbers compared"] > 100 for row in summary)
    assert not [p for p in (tmp_path / "v").iterdir() if p.name.startswith(".verify-cache")]  # caches removed


def test_verify_names_a_planted_change_and_exits_1(monkeypatch, capsys, tmp_path, measured):
    weights, committed = measured
    planted = tmp_path / "planted"
    shutil.copytree(committed, planted)
    csv = next((planted / "fid").glob("*.csv"))
    rows = pd.read_csv(csv, low_memory=False, dtype={"run_id": str})
    first = rows.index[(rows.kind == "point") & (rows.sampling_steps == 1)][0]
    rows.loc[first, "distance"] = rows.loc[first, "distance"] * 1.01
    rows.to_csv(csv, index=False)
    code, _, err = _verify(monkeypatch, capsys, weights, planted, tmp_path / "v")
    assert code == 1
    assert "point row model unet, train_seed 0, sampling_steps 1: distance" in err
    assert "bench: 1 number(s) differ from the committed rows; listed above" in err


def test_verify_refuses_weights_other_than_those_the_runs_read(
    monkeypatch, capsys, tmp_path, measured, unet_with_two_rungs
):
    _, committed = measured
    other = tmp_path / "other"
    code, _, err = bench(
        monkeypatch, capsys, "ship", "--checkpoint", str(unet_with_two_rungs), "--at-step", "1", "--to", str(other)
    )
    assert code == 0, err
    code, _, err = bench(monkeypatch, capsys, "verify", "--weights", str(other), "--against", str(committed))
    assert code == 2 and err.count("\n") == 1
    assert "read unet-seed0-step0000003.safetensors, which" in err and "does not ship" in err


def test_a_measurement_from_shipped_weights_refuses_what_is_not_shipped(monkeypatch, capsys, tmp_path, measured):
    weights, _ = measured
    common = ("--preset", "smoke", "--train-seeds", "0", "--weights", str(weights), "--out", str(tmp_path))
    code, _, err = bench(monkeypatch, capsys, "fid", "--models", "cunet", *common)
    assert code == 2 and "ships no cunet of seed 0); make it with: bench train --model cunet" in err
    code, _, err = bench(monkeypatch, capsys, "fid", "--models", "unet", "--at-step", "2", *common)
    assert code == 2 and "ships unet seed 0 at steps 1, 3, not at 2" in err
    code, _, err = bench(monkeypatch, capsys, "fid", "--models", "unet", "--data", "lfw25", *common)
    assert code == 2 and "was trained on mnist5k, not on lfw25" in err


def _frame(bench_name, rows):
    frame, problem = schema.conform(bench_name, pd.DataFrame(rows))
    assert problem is None, problem
    return frame


def _run_of(rows):
    return CommittedRun("fid", "r1", _frame("fid", rows), {})


POINT = {"run_id": "r1", "kind": "point", "model": "unet", "train_seed": 0, "sampling_steps": 10, "samples": 256}


def test_differences_are_matched_by_key_and_judged_by_the_rule():
    committed = [{**POINT, "distance": 2.0, "kid_mean": 0.1, "confident_fraction": 0.5, "seconds_per_sample": 1.0}]
    close = [{**POINT, "distance": 2.08, "kid_mean": 0.1, "confident_fraction": 0.51, "seconds_per_sample": 9.0}]
    across = differences(_run_of(committed), _frame("fid", close), exact=False)
    assert across.compared == 4 and across.inexact == 2 and not across.differing  # the time is never compared
    on_its_class = differences(_run_of(committed), _frame("fid", close), exact=True)
    assert [(d.column, d.allowed) for d in on_its_class.differing] == [
        ("distance", "equal on this machine class"),
        ("confident_fraction", "equal on this machine class"),
    ]
    far = [{**POINT, "distance": 2.2, "kid_mean": 0.1, "confident_fraction": 0.5}]
    (difference,) = differences(_run_of(committed), _frame("fid", far), exact=False).differing
    assert difference.line().endswith("distance 2 → 2.2 (allowed: ±0.001 + 5% of it)")
    moved = [{**POINT, "sampling_steps": 30, "distance": 2.0, "kid_mean": 0.1, "confident_fraction": 0.5}]
    missing = differences(_run_of(committed), _frame("fid", moved), exact=True).differing
    assert [(d.row, d.committed, d.new) for d in missing] == [
        ("model unet, train_seed 0, sampling_steps 10", "committed", "absent"),
        ("model unet, train_seed 0, sampling_steps 30", "absent", "measured"),
    ]


def test_each_number_has_the_tolerance_of_what_it_holds():
    assert tolerance_of("mean", "ssim", False, exact=False) == TOLERANCES["ssim"]
    assert tolerance_of("mean", "feature_distance", False, exact=False) == TOLERANCES["other"]
    assert tolerance_of("confident_fraction", None, False, exact=False) == TOLERANCES["fraction"]
    assert tolerance_of("best_step", "ssim", False, exact=False) == TOLERANCES["step"]
    assert tolerance_of("confident_classes", None, True, exact=False) == TOLERANCES["count"]
    assert tolerance_of("distance", None, False, exact=True).holds(2.0, 2.0)
    assert not tolerance_of("distance", None, False, exact=True).holds(2.0, 2.0 + 1e-15)
    assert TOLERANCES["ssim"].holds(0.9, 0.904) and not TOLERANCES["ssim"].holds(0.9, 0.906)


@pytest.mark.parametrize(
    "config_class, overrides",
    [(FidConfig, {}), (DenoiseConfig, {"solver": (SolverConfig("euler", steps=2),)})],
    ids=["fid", "denoise with a solver"],
)
def test_a_recorded_configuration_is_rebuilt_exactly(config_class, overrides):
    config = config_class.from_preset(get_preset("smoke"), **overrides)
    record = as_record(config)
    assert as_record(from_record(config_class, record, "run r")) == record
    with pytest.raises(UserError, match="run r records models = '5', not a tuple"):
        from_record(config_class, {**record, "models": 5}, "run r")
    with pytest.raises(UserError, match="run r has an unusable configuration: --seed must be an integer"):
        from_record(config_class, {**record, "train_seeds": [-1]}, "run r")
    with pytest.raises(UserError, match="run r has an unusable configuration .unknown fields evil"):
        from_record(config_class, {**record, "evil": 1}, "run r")
    with pytest.raises(UserError, match="run r has no readable configuration"):
        from_record(config_class, ["models"], "run r")


def test_bench_all_measures_what_the_weights_ship_instead_of_training_it(monkeypatch, capsys, tmp_path, measured):
    weights, _ = measured
    results = tmp_path / "results"
    code, out, err = bench(
        monkeypatch, capsys, "all", "--preset", "smoke", "--weights", str(weights), "--dry-run", "--out", str(results)
    )
    assert code == 0, err
    steps = {step["step"]: step for step in json.loads(out)}
    assert "train unet (seed 0)" not in steps and "train cunet (seed 0)" in steps  # only what is not shipped trains
    top = weights / "unet-seed0-step0000003.safetensors"
    assert steps["sample unet"]["checkpoint"] == str(top)
    assert steps["fid"]["weights"] == steps["denoise"]["weights"] == str(weights)
    code, _, err = bench(
        monkeypatch, capsys, "sample", "--preset", "smoke", "--checkpoint", str(top), "--out", str(results)
    )
    assert code == 0, err
    assert list((results / "samples").glob("*.png"))


def test_bench_all_measures_every_seed_the_weights_ship(monkeypatch, capsys, tmp_path, measured):
    """A small preset trains one seed; from shipped weights the plan takes every seed they hold (the
    verdicts need them), and trains what they do not ship at those seeds."""
    weights = tmp_path / "weights"
    shutil.copytree(measured[0], weights)
    second = tmp_path / "seed1.safetensors"
    _run(
        "train",
        "--model",
        "unet",
        "--preset",
        "smoke",
        "--seed",
        "1",
        "--rungs",
        "2",
        "--checkpoint",
        str(second),
        "--out",
        str(tmp_path / "r"),
    )
    _run("ship", "--checkpoint", str(second), "--to", str(weights))
    code, out, err = bench(monkeypatch, capsys, "all", "--preset", "smoke", "--weights", str(weights), "--dry-run")
    assert code == 0, err
    steps = {step["step"]: step for step in json.loads(out)}
    assert steps["fid"]["train_seeds"] == steps["denoise"]["train_seeds"] == [0, 1]
    assert "train unet (seed 1)" not in steps and "train cunet (seed 1)" in steps
    assert steps["fid"]["models"] == steps["denoise"]["models"][:3] == ["unet", "cunet-release", "cunet"]


def test_bench_all_samples_what_the_weights_ship_beyond_the_preset_at_every_seed(
    monkeypatch, capsys, tmp_path, measured
):
    """Shipped Appendix C ablations join the fid step (their claim reads samples), not the denoising
    step; a model shipped at fewer seeds than the plan measures stays out (its verdict would lack seeds)."""
    weights = tmp_path / "weights"
    shutil.copytree(measured[0], weights)
    for model, seed in (("cunet-release-wo-a", 0), ("cunet-release-wo-a", 1), ("cunet-release-wo-r", 0)):
        checkpoint = tmp_path / f"{model}-{seed}.safetensors"
        train = ("train", "--model", model, "--preset", "smoke", "--seed", str(seed), "--checkpoint", str(checkpoint))
        _run(*train, "--out", str(tmp_path / "r"))
        _run("ship", "--checkpoint", str(checkpoint), "--to", str(weights))
    code, out, err = bench(monkeypatch, capsys, "all", "--preset", "smoke", "--weights", str(weights), "--dry-run")
    assert code == 0, err
    steps = {step["step"]: step for step in json.loads(out)}
    assert steps["fid"]["train_seeds"] == [0, 1]
    assert steps["fid"]["models"] == ["unet", "cunet-release", "cunet", "cunet-release-wo-a"]
    assert "cunet-release-wo-a" not in steps["denoise"]["models"]


def test_the_budget_chooses_runs_in_order_by_the_time_they_took_where_recorded():
    def run(name, wall_s):
        return CommittedRun("fid", name, pd.DataFrame(), {} if wall_s is None else {"phase": {"wall_s": wall_s}})

    found = [run("a", 600.0), run("b", 1500.0), run("c", 300.0), run("d", None)]
    chosen, left = within_budget(found, 30.0)
    assert [r.run_id for r in chosen] == ["a", "c"] and [r.run_id for r in left] == ["b", "d"]
    assert [r.run_id for r in within_budget(found, None)[0]] == ["a", "b", "c", "d"]  # --all
    with pytest.raises(UserError, match=r"no committed run fits --budget-minutes 1 \(the shortest took 5.0 min"):
        within_budget(found, 1.0)
