import json
import os

import pytest

from cunet_bench import provenance, records


def _provenance():
    return provenance.collect(bench="demo", seed=7, preset="smoke", config={"batch": 2})


def test_round_trip(tmp_path):
    rows = [{"model": "unet", "metric": "params", "value": 35_710_339}, {"model": "cunet", "metric": "params", "value": 1.5}]
    files = records.write_run("demo", rows, _provenance(), tmp_path)
    assert files.csv.parent == tmp_path / "demo"
    frame = records.load_runs("demo", tmp_path)
    assert list(frame["model"]) == ["unet", "cunet"]
    assert list(frame["value"]) == [35_710_339, 1.5]
    assert set(frame["run_id"]) == {files.run_id}
    sidecar = json.loads(files.json.read_text())
    for key in ("run_id", "command", "preset", "seed", "git_commit", "git_dirty", "versions", "device",
                "cpu_threads", "started_at", "finished_at"):
        assert key in sidecar
    assert sidecar["seed"] == 7 and sidecar["rows"] == 2
    assert sidecar["versions"]["torch"]


def test_runs_accumulate_and_never_overwrite(tmp_path):
    first = records.write_run("demo", [{"a": 1}], _provenance(), tmp_path)
    second = records.write_run("demo", [{"a": 2}], _provenance(), tmp_path)
    assert first.run_id != second.run_id
    assert sorted(records.load_runs("demo", tmp_path)["a"]) == [1, 2]
    with pytest.raises(FileExistsError):
        records.atomic_write(first.csv, b"x")
    assert first.csv.read_text().splitlines()[1].endswith(",1")


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "demo" / "run.csv"

    def crash(_descriptor):
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk vanished"):
        records.atomic_write(target, b"a,b\n1,2\n")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_load_of_missing_bench_is_empty(tmp_path):
    assert records.load_runs("nothing", tmp_path).empty


def test_rows_with_different_columns_are_written_tidy(tmp_path):
    files = records.write_run("demo", [{"a": 1}, {"b": 2}], _provenance(), tmp_path)
    header = files.csv.read_text().splitlines()[0]
    assert header == "run_id,a,b"
