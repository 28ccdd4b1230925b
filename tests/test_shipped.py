"""Shipped weights: a run's EMA weights in their stored form (fp16) with a manifest the harness
checks before loading — a changed byte, a swapped file, a missing file or a malformed entry is one
line and exit 2; what is loaded is exactly the stored form, run in fp32."""

import json
import shutil

import pytest
import torch
from cunet_bench.diffusion.loading import load_trained
from cunet_bench.errors import UserError
from cunet_bench.records.checkpoints import read_checkpoint
from cunet_bench.records.shipped import MANIFEST, MAX_SHIPPED_BYTES, read_manifest, verified
from cunet_bench.records.shipped_names import ShippedName, read_shipped_name, shipped_name

from test_bad_input import bench


def test_a_run_ships_its_ema_weights_in_fp16_and_loads_them_as_stored(
    monkeypatch, capsys, tmp_path, unet_with_two_rungs
):
    weights = tmp_path / "weights"
    for extra in (("--at-step", "1"), ()):
        code, _, err = bench(
            monkeypatch, capsys, "ship", "--checkpoint", str(unet_with_two_rungs), *extra, "--to", str(weights)
        )
        assert code == 0, err
    entries = read_manifest(weights)
    assert [(e.model, e.seed, e.step) for e in entries] == [("unet", 0, 1), ("unet", 0, 3)]
    assert sorted(p.name for p in weights.iterdir()) == [
        MANIFEST,
        "unet-seed0-step0000001.safetensors",
        "unet-seed0-step0000003.safetensors",
    ]
    top = weights / entries[1].file
    stored = read_checkpoint(top)
    assert stored.role == "shipped" and not stored.model_state and not stored.optimizer_state
    assert all(v.dtype == torch.float16 for v in stored.ema_state.values() if v.is_floating_point())
    model, config, step = load_trained(top, "unet")
    original = read_checkpoint(unet_with_two_rungs).ema_state
    assert step == 3 and config.model == "unet"
    for key, value in model.state_dict().items():
        expected = original[key].half().float() if original[key].is_floating_point() else original[key]
        assert torch.equal(value, expected), key  # exactly the stored form, run in fp32
    assert entries[1].images_seen == 3 * config.batch_size and entries[1].bytes == top.stat().st_size
    code, out, _ = bench(monkeypatch, capsys, "shipped", str(weights), "--format", "json")
    assert code == 0 and [row["check"] for row in json.loads(out)] == ["verified", "verified"]
    with pytest.raises(UserError, match="holds shipped EMA weights alone"):
        load_trained(top, "unet", raw_weights=True)


def _shipped_copy(checkpoint, tmp_path, monkeypatch, capsys):
    weights = tmp_path / "weights"
    for extra in (("--at-step", "1"), ()):
        code, _, err = bench(monkeypatch, capsys, "ship", "--checkpoint", str(checkpoint), *extra, "--to", str(weights))
        assert code == 0, err
    return weights, read_manifest(weights)


def _changed_byte(weights, entries):
    path = weights / entries[1].file
    data = bytearray(path.read_bytes())
    data[-3] ^= 1
    path.write_bytes(bytes(data))


def _swapped(weights, entries):
    first, second = (weights / entry.file for entry in entries)
    shutil.move(first, weights / "aside")
    shutil.move(second, first)
    shutil.move(weights / "aside", second)


def _missing(weights, entries):
    (weights / entries[0].file).unlink()


def _malformed(weights, entries):
    record = json.loads((weights / MANIFEST).read_text())
    record["files"][0]["step"] = -1
    (weights / MANIFEST).write_text(json.dumps(record))


def _too_large(weights, entries):
    record = json.loads((weights / MANIFEST).read_text())
    record["files"][0]["bytes"] = MAX_SHIPPED_BYTES
    (weights / MANIFEST).write_text(json.dumps(record))


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (_changed_byte, "is not the file MANIFEST.json lists (SHA-256"),
        (_swapped, "is not the file MANIFEST.json lists (SHA-256"),
        (_missing, "is listed in MANIFEST.json but missing"),
        (_malformed, "has a malformed step (-1)"),
        (_too_large, "lists more than 100 MiB of weights"),
    ],
    ids=["a changed byte", "two files swapped", "a missing file", "a malformed entry", "over the size limit"],
)
def test_damaged_shipped_weights_are_one_line_before_anything_is_loaded(
    monkeypatch, capsys, tmp_path, unet_with_two_rungs, damage, fragment
):
    weights, entries = _shipped_copy(unet_with_two_rungs, tmp_path, monkeypatch, capsys)
    damage(weights, entries)
    code, _, err = bench(monkeypatch, capsys, "shipped", str(weights))
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    with pytest.raises(UserError, match=fragment.split(" (")[0].replace("(", r"\(")):
        verified(weights)


def test_a_shipped_file_is_never_resumed(monkeypatch, capsys, tmp_path, unet_with_two_rungs):
    weights, entries = _shipped_copy(unet_with_two_rungs, tmp_path, monkeypatch, capsys)
    shipped = weights / entries[1].file
    code, _, err = bench(
        monkeypatch,
        capsys,
        "train",
        "--model",
        "unet",
        "--preset",
        "smoke",
        "--resume",
        "--train-steps",
        "5",
        "--checkpoint",
        str(shipped),
        "--out",
        str(tmp_path / "r"),
    )
    assert code == 2 and "holds shipped EMA weights alone (no optimizer state): it cannot be resumed" in err


@pytest.mark.parametrize(
    "name, read",
    [
        (shipped_name("cunet-release-wo-a", 2, 28_800), ShippedName("cunet-release-wo-a", 2, 28_800)),
        (shipped_name("unet", 0, 225), ShippedName("unet", 0, 225)),
        ("unet-mnist5k-reference-seed0.safetensors", None),  # a training checkpoint, not a shipped file
        ("unet-seed0-step225.safetensors", None),
        ("unet-seed0-step0000225.pt", None),
    ],
)
def test_a_shipped_files_name_reads_back_as_its_model_seed_and_step(name, read):
    assert read_shipped_name(f"/somewhere/{name}") == read
