import json

import pytest

from cunet_bench import provenance, records
from cunet_bench.errors import BenchWarning, UserError
from cunet_bench.files import atomic_write


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
    with pytest.raises(UserError, match="already exists; results are never overwritten"):
        atomic_write(first.csv, b"x")
    assert first.csv.read_text().splitlines()[1].endswith(",1")


@pytest.mark.parametrize("damage, fragment", [
    (lambda csv, sidecar: csv.write_bytes(csv.read_bytes()[:25]), "do not belong to run"),
    (lambda csv, sidecar: csv.write_bytes(b""), "not a readable CSV file"),
    (lambda csv, sidecar: csv.write_bytes(bytes(range(256)) * 4), "not a readable CSV file"),
    (lambda csv, sidecar: csv.write_text("x,y\n1,2\n"), "columns run_id, model are missing"),
    (lambda csv, sidecar: sidecar.write_text("{not json"), "not a readable JSON file"),
    (lambda csv, sidecar: sidecar.write_text("[1, 2]"), "provenance must be a JSON object"),
])
def test_a_damaged_run_is_skipped_with_a_warning_naming_the_file(tmp_path, damage, fragment):
    good = records.write_run("demo", [{"model": "unet", "value": 1}], _provenance(), tmp_path)
    bad = records.write_run("demo", [{"model": "cunet", "value": 2}], _provenance(), tmp_path)
    damage(bad.csv, bad.json)
    with pytest.warns(BenchWarning, match=fragment) as caught:
        frame, provenance_of = records.load_results("demo", tmp_path, required=("model",))
    assert str(bad.csv if "JSON" not in fragment and "provenance" not in fragment else bad.json) in str(caught[0].message)
    assert list(frame.model) == ["unet"] and set(provenance_of) == {good.run_id}


def test_a_folder_named_like_a_results_file_is_skipped(tmp_path):
    good = records.write_run("demo", [{"model": "unet"}], _provenance(), tmp_path)
    (tmp_path / "demo" / "20990101T000000Z-abcdef.csv").mkdir()
    (tmp_path / "demo" / "20990101T000000Z-abcdef.json").write_text("{}")
    with pytest.warns(BenchWarning, match="20990101T000000Z-abcdef.csv: not a readable CSV file"):
        frame = records.load_runs("demo", tmp_path)
    assert set(frame.run_id) == {good.run_id}


def test_load_of_missing_bench_is_empty(tmp_path):
    assert records.load_runs("nothing", tmp_path).empty


def test_rows_with_different_columns_are_written_tidy(tmp_path):
    files = records.write_run("demo", [{"a": 1}, {"b": 2}], _provenance(), tmp_path)
    header = files.csv.read_text().splitlines()[0]
    assert header == "run_id,a,b"
