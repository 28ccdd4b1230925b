"""Results on disk: rows of the declared schema, provenance beside them, atomic and never
overwritten; reading back skips what does not fit, saying why."""

import json

import pytest
from cunet_bench.errors import BenchWarning, UserError
from cunet_bench.files import create_file
from cunet_bench.records import provenance, runs
from cunet_bench.records.schema import SchemaError


def _provenance():
    return {
        **provenance.collect(bench="training", seed=7, preset="smoke", config={"batch_size": 2}, threads=1),
        "complete": True,
    }


def _log(model="unet", step=1, loss=0.5):
    return {
        "kind": "log",
        "model": model,
        "paper_name": "U-Net",
        "tags": "paper-unet",
        "train_seed": 0,
        "data": "mnist5k",
        "step": step,
        "loss": loss,
        "images_per_s": 10.0,
    }


def test_round_trip(tmp_path):
    rows = [_log("unet", 1, 0.5), _log("cunet-release", 2, 1.5)]
    files = runs.write_run("training", rows, _provenance(), tmp_path)
    assert files.csv.parent == tmp_path / "training"
    frame = runs.load_runs("training", tmp_path)
    assert list(frame["model"]) == ["unet", "cunet-release"]
    assert list(frame["loss"]) == [0.5, 1.5] and list(frame["step"]) == [1, 2]
    assert set(frame["run_id"]) == {files.run_id}
    sidecar = json.loads(files.json.read_text())
    for key in (
        "run_id",
        "command",
        "preset",
        "seed",
        "git_commit",
        "git_dirty",
        "versions",
        "device",
        "cpu_threads",
        "started_at",
        "finished_at",
    ):
        assert key in sidecar
    assert sidecar["seed"] == 7 and sidecar["rows"] == 2
    assert sidecar["versions"]["torch"]


def test_runs_accumulate_and_never_overwrite(tmp_path):
    first = runs.write_run("training", [_log(step=1)], _provenance(), tmp_path)
    second = runs.write_run("training", [_log(step=2)], _provenance(), tmp_path)
    assert first.run_id != second.run_id
    assert sorted(runs.load_runs("training", tmp_path)["step"]) == [1, 2]
    with pytest.raises(UserError, match="holds a file the harness did not make"):
        create_file(first.csv, b"x")


def test_a_row_outside_the_schema_is_not_written(tmp_path):
    with pytest.raises(SchemaError, match="declare no column renamed_loss"):
        runs.write_run("training", [{**_log(), "renamed_loss": 1.0}], _provenance(), tmp_path)
    with pytest.raises(SchemaError, match="kind 'nonsense' are not declared"):
        runs.write_run("training", [{**_log(), "kind": "nonsense"}], _provenance(), tmp_path)
    with pytest.raises(SchemaError, match="column step must be int"):
        runs.write_run("training", [{**_log(), "step": "three"}], _provenance(), tmp_path)
    assert not (tmp_path / "training").exists()


def test_provenance_is_standard_json_even_with_non_finite_numbers(tmp_path):
    files = runs.write_run("training", [_log()], {**_provenance(), "phase": {"other_cores": float("nan")}}, tmp_path)
    assert json.loads(files.json.read_text())["phase"]["other_cores"] is None
    assert "NaN" not in files.json.read_text()


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda csv, sidecar: csv.write_bytes(csv.read_bytes()[:25]), "do not belong to run"),
        (lambda csv, sidecar: csv.write_bytes(b""), "not a readable CSV file"),
        (lambda csv, sidecar: csv.write_bytes(bytes(range(256)) * 4), "not a readable CSV file"),
        (lambda csv, sidecar: csv.write_text("x,y\n1,2\n"), "do not belong to run"),
        (lambda csv, sidecar: sidecar.write_text("{not json"), "provenance is not readable JSON"),
        (lambda csv, sidecar: sidecar.write_text("[1, 2]"), "provenance is not a JSON object"),
        (lambda csv, sidecar: sidecar.write_text("{}"), "provenance lacks bench, command, rows, complete"),
        (lambda csv, sidecar: sidecar.write_text("[" * 100_000 + "]" * 100_000), "nested more than"),
        (lambda csv, sidecar: sidecar.write_text(sidecar.read_text().replace('"rows": 2', '"rows": 4')), "cut short"),
        (lambda csv, sidecar: csv.write_text(csv.read_text().replace(",0.5,", ",lots,")), "is not a number"),
    ],
)
def test_a_damaged_run_is_skipped_with_a_warning_naming_the_file(tmp_path, damage, fragment):
    good = runs.write_run("training", [_log("unet")], _provenance(), tmp_path)
    bad = runs.write_run(
        "training", [_log("cunet-release", loss=0.5), _log("cunet-release", 2, 0.5)], _provenance(), tmp_path
    )
    damage(bad.csv, bad.json)
    with pytest.warns(BenchWarning, match=fragment) as caught:
        loaded = runs.load_results("training", tmp_path)
    assert str(bad.csv) in str(caught[0].message)
    assert list(loaded.frame.model) == ["unet"] and set(loaded.provenance) == {good.run_id}
    assert [skipped.path for skipped in loaded.skipped] == [bad.csv]


def test_a_folder_named_like_a_results_file_is_skipped(tmp_path):
    good = runs.write_run("training", [_log()], _provenance(), tmp_path)
    (tmp_path / "training" / "20990101T000000Z-abcdef.csv").mkdir()
    (tmp_path / "training" / "20990101T000000Z-abcdef.json").write_text("{}")
    with pytest.warns(BenchWarning, match="20990101T000000Z-abcdef.csv: it is not a file"):
        frame = runs.load_runs("training", tmp_path)
    assert set(frame.run_id) == {good.run_id}


def test_load_of_a_bench_without_runs_is_empty_with_the_declared_columns(tmp_path):
    frame = runs.load_runs("training", tmp_path)
    assert frame.empty and {"model", "loss", "step", "kind"} <= set(frame.columns)


def test_a_row_off_the_schema_fails_when_it_is_produced_and_the_rows_before_it_are_kept(tmp_path):
    from dataclasses import dataclass

    from cunet_bench.benchmarks import Benchmark
    from cunet_bench.run.runner import execute

    after = []

    def run(config, progress):
        yield {"kind": "log", "model": "unet", "step": 1, "loss": 0.5}
        yield {"kind": "log", "model": "unet", "step": 2, "loss": 0.4, "typo_column": 1}
        after.append("the work after the slip")
        yield {"kind": "log", "model": "unet", "step": 3, "loss": 0.3}

    @dataclass(frozen=True)
    class Config:
        seed: int = 0
        threads: int | None = None

    benchmark = Benchmark("training", Config, run, summary=lambda rows: [])
    with pytest.raises(SchemaError, match="declare no column typo_column"):
        execute(benchmark, Config(), tmp_path)
    assert after == []
    frame = runs.load_runs("training", tmp_path)
    assert list(frame.step) == [1]
