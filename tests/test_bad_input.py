"""Every bad input found by attacking the harness: one line on standard error, exit code 2, no
traceback, nothing written. Commands run in-process through the console entry point."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cunet_bench.checkpoints import FORMAT, safetensors_bytes
from cunet_bench.cli import main

PACKAGE = Path(__file__).resolve().parent.parent


def bench(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["bench", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


def forged_checkpoint(folder: Path, name: str, tensors=None, **metadata) -> Path:
    """A safetensors file with a hand-made header, as an attacker or a broken tool would write it."""
    values = {"format": FORMAT, "step": "3", "config": json.dumps({"model": "dncnn"}), "data_fingerprint": "f"}
    values.update(metadata)
    path = folder / name
    path.write_bytes(safetensors_bytes(tensors or {"model.layers.0.weight": torch.zeros(2)},
                                       {k: v for k, v in values.items() if v is not None}))
    return path


@pytest.fixture
def files(tmp_path):
    regular = tmp_path / "a-file"
    regular.write_text("x")
    forged = {
        "prefix": forged_checkpoint(tmp_path, "prefix.safetensors", {"evil.weight": torch.zeros(1)}),
        "no step": forged_checkpoint(tmp_path, "nostep.safetensors", step=None),
        "bad step": forged_checkpoint(tmp_path, "badstep.safetensors", step="abc"),
        "empty config": forged_checkpoint(tmp_path, "empty.safetensors", config="{}"),
        "config types": forged_checkpoint(tmp_path, "types.safetensors", config=json.dumps({"model": "dncnn",
                                                                                          "steps": "many"})),
        "config fields": forged_checkpoint(tmp_path, "fields.safetensors", config=json.dumps({"model": "dncnn",
                                                                                            "evil": 1})),
        "optimizer": forged_checkpoint(tmp_path, "optim.safetensors", {"optim.x.step": torch.zeros(1)}),
    }
    return {"dir": tmp_path, "file": regular, **forged}


CASES = [
    (("train", "--model", "unet", "--steps", "0"), "steps must be at least 1, got 0"),
    (("train", "--model", "unet", "--lr", "0"), "learning rate must be a positive number, got 0.0"),
    (("train", "--model", "unet", "--batch-size", "0"), "batch-size must be at least 1, got 0"),
    (("train", "--model", "unet", "--resolution", "0"), "the image size must be positive, got 0"),
    (("train", "--model", "unet", "--seed", "1180591620717411303424"), "--seed must be an integer from 0 to"),
    (("train", "--model", "unet", "--seed", "1180591620717411303424", "--dry-run"), "--seed must be an integer"),
    (("train", "--model", "unet", "--seed", "-1"), "--seed must be an integer from 0 to"),
    (("train", "--model", "unet", "--checkpoint", "{dir}"), "is a folder; give a file name"),
    (("train", "--model", "unet", "--foo"), "no such option: --foo (see bench train --help)"),
    (("sample", "--checkpoint", "x.safetensors", "--out", "{file}"), "is a file, not a folder"),
    (("sample", "--checkpoint", "x.safetensors", "--out", "{file}/below"), "is a file, not a folder"),
    (("report", "--out", "{file}"), "is a file, not a folder"),
    (("efficiency", "--out", "{file}"), "is a file, not a folder"),
    (("sample", "--checkpoint", "{prefix}"), "holds an unexpected tensor 'evil.weight'"),
    (("sample", "--checkpoint", "{no step}"), "lacks its step metadata"),
    (("sample", "--checkpoint", "{bad step}"), "has a malformed step 'abc'"),
    (("sample", "--checkpoint", "{empty config}"), "has no readable training configuration"),
    (("sample", "--checkpoint", "{config types}"), "records steps = 'many', not a int"),
    (("sample", "--checkpoint", "{config fields}"), "unusable training configuration (unknown fields evil)"),
    (("sample", "--checkpoint", "{dir}"), "is a folder, not a file"),
    (("sample", "--checkpoint", "x.safetensors", "--num-samples", "99999999999999999999"),
     "--num-samples must be between 1 and 10,000"),
    (("sample", "--checkpoint", "x.safetensors", "--num-samples", "0"), "--num-samples must be between 1 and"),
    (("denoise", "--noise-steps", "nan"), "noise levels must be finite numbers"),
    (("denoise", "--noise-steps", "inf"), "noise levels must be finite numbers"),
    (("denoise", "--noise-steps", "50.5"), "noise steps must be integers"),
    (("denoise", "--models", ""), "--models needs at least one name"),
    (("denoise", "--models", "dncnn,dncnn"), "--models has duplicated names: dncnn,dncnn"),
    (("denoise", "--models", " , "), "--models needs at least one name"),
    (("efficiency", "--models", "unet,unet"), "--models has duplicated names"),
    (("fid", "--features", "inception"), "needs the Inception weights, which are not installed"),
    (("fid", "--num-samples", "99999999999999999999"), "--num-samples must be between 2 and 1,000,000"),
    (("fid", "--steps", "0"), "--steps values must be at least 1, got 0"),
    (("denoise", "--preset", "huge"), "unknown preset 'huge'"),
    (("solvers", "--resolution", "-64"), "the image size must be positive, got -64"),
    (("solvers", "--resolution", "0"), "the image size must be positive, got 0"),
    (("weights", "install", "--from", "{dir}"), "is a folder; give the .pth file itself"),
    (("weights", "install", "--from", "{file}"), "is not a weights file the metrics use"),
    (("weights", "install", "--from", "missing.pth"), "does not exist"),
    (("efficiency", "--seed", "99999999999999999999"), "--seed must be an integer"),
]


@pytest.mark.parametrize("args, fragment", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, files, tmp_path, args, fragment):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.chdir(tmp_path)
    args = tuple(a.format(**{k: str(v) for k, v in files.items()}) for a in args)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = bench(monkeypatch, capsys, *args)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error: ") and fragment in lines[0], err
    assert "Possible options" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_report_skips_a_damaged_file_with_a_warning_and_writes_the_rest(monkeypatch, capsys, tmp_path):
    from cunet_bench import provenance, records

    meta = provenance.collect(bench="training", seed=0)
    good = records.write_run("training", [{"model": "unet", "step": 1, "loss": 0.5}], meta, tmp_path / "r")
    for name, content in (("20990101T000000Z-000001", b""), ("20990101T000000Z-000002", b"run_id,x\n\x00\xff"),
                          ("20990101T000000Z-000003", b"run_id,other\n20990101T000000Z-000003,1\n")):
        (tmp_path / "r" / "training" / f"{name}.csv").write_bytes(content)
        (tmp_path / "r" / "training" / f"{name}.json").write_text("{}")
    (tmp_path / "r" / "training" / "20990101T000000Z-000004.csv").mkdir()
    (tmp_path / "r" / "training" / "20990101T000000Z-000004.json").write_text("{}")
    (tmp_path / "r" / "training" / "20990101T000000Z-000005.csv").write_text("run_id,model,step\n")
    (tmp_path / "r" / "training" / "20990101T000000Z-000005.json").write_text("{trunc")
    code, _, err = bench(monkeypatch, capsys, "report", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "o"))
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("bench: warning: skipped")]
    assert len(warnings) == 5 and all("20990101T000000Z-00000" in line for line in warnings)
    assert "Traceback" not in err
    report = (tmp_path / "o" / "REPORT.md").read_text()
    assert good.run_id in report


def test_sigterm_keeps_the_rows_already_measured_and_says_so_in_one_line(tmp_path):
    from cunet_bench import records

    process = subprocess.Popen([sys.executable, "-m", "cunet_bench.cli", "efficiency", "--preset", "smoke",
                                "--no-memory", "--repeats", "10000", "--out", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(12)  # imports, the machine's peak and the first counts; the latencies take minutes
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 143
    lines = process.stderr.read().strip().splitlines()
    assert lines[-1] == "bench: stopped by SIGTERM; what was measured is recorded"
    assert lines[0].startswith("results: ") and not any("Traceback" in line for line in lines)
    frame, provenance = records.load_results("efficiency", tmp_path)
    assert "peak_gflops_matmul" in set(frame.metric)
    (meta,) = provenance.values()
    assert meta["complete"] is False


FORBIDDEN = {
    r"\bimport pickle\b|\bpickle\.(loads?|Unpickler)": "unpickling",
    r"weights_only\s*=\s*False": "torch.load that unpickles",
    r"pretrained\s*=\s*True": "a third-party loader that downloads and unpickles",
    r"torch\.hub\.load\b|load_state_dict_from_url\(": "torch.hub loading",
}


def test_no_code_path_can_unpickle():
    sources = [p for folder in ("cunet_bench", "models", "baselines", "benchmarks") for p in (PACKAGE / folder).glob("*.py")]
    assert len(sources) > 20
    for path in sources:
        text = path.read_text()
        for pattern, what in FORBIDDEN.items():
            assert not re.search(pattern, text), f"{path.name}: {what}"
        for call in re.findall(r"np\.load\([^)]*\)", text):
            assert "allow_pickle=False" in call, f"{path.name}: {call}"
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{path.name}: {call}"
