"""The bad-input table: every input found by attacking the harness, as one parametrised test.
A bad command line or file gets one line on standard error and exit code 2, no traceback, nothing
written; where the command has ``--dry-run``, the dry run refuses it too (it runs the same
validation). A damaged results file gets one warning naming it, and the report still builds.
Commands run in-process through the console entry point."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from cunet_bench.cli.app import main
from cunet_bench.records.checkpoints import FORMAT, safetensors_bytes
from safetensors import safe_open

PACKAGE = Path(__file__).resolve().parent.parent


BUSY = "bench: warning: the machine is busy"


def without_busy_warning(err: str) -> str:
    """Standard error without the one warning a busy machine gets once work starts: the suite may
    run beside other work (a user's own bench all), which is not the input under test."""
    return "".join(line for line in err.splitlines(keepends=True) if not line.startswith(BUSY))


def bench(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["bench", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, without_busy_warning(captured.err)


def forged_checkpoint(folder: Path, name: str, tensors=None, **metadata) -> Path:
    """A safetensors file with a hand-made header, as an attacker or a broken tool would write it."""
    values = {"format": FORMAT, "step": "3", "config": json.dumps({"model": "dncnn"}), "data_fingerprint": "f"}
    values.update(metadata)
    path = folder / name
    path.write_bytes(
        safetensors_bytes(
            tensors or {"model.layers.0.weight": torch.zeros(2)}, {k: v for k, v in values.items() if v is not None}
        )
    )
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real smoke checkpoint of DnCNN, to forge variants of."""
    from cunet_bench.benchmarks.train import TrainRunConfig
    from cunet_bench.config.presets import get_preset
    from cunet_bench.diffusion.loading import build_model
    from cunet_bench.diffusion.training import TrainingRun

    folder = tmp_path_factory.mktemp("trained")
    config = TrainRunConfig.from_preset(get_preset("smoke"), model="dncnn").training
    list(TrainingRun(config, build_model(config), None, folder / "dncnn.safetensors").steps())
    return folder / "dncnn.safetensors"


@pytest.fixture(scope="module")
def trained_backbone(tmp_path_factory):
    """A real smoke checkpoint of the U-Net backbone."""
    from cunet_bench.benchmarks.train import TrainRunConfig
    from cunet_bench.config.presets import get_preset
    from cunet_bench.diffusion.loading import build_model, diffusion_of
    from cunet_bench.diffusion.training import TrainingRun

    folder = tmp_path_factory.mktemp("backbone")
    config = TrainRunConfig.from_preset(get_preset("smoke"), model="unet").training
    list(TrainingRun(config, build_model(config), diffusion_of(config), folder / "unet.safetensors").steps())
    return folder / "unet.safetensors"


def _overflowing(source: Path, path: Path) -> Path:
    """``source`` with every EMA weight scaled to about 1e36: finite, but the network overflows."""
    with safe_open(str(source), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        metadata = dict(handle.metadata())
    scaled = {
        key: value * 1e36 if key.startswith("ema.") and value.is_floating_point() and value.abs().max() > 0 else value
        for key, value in tensors.items()
    }
    path.write_bytes(safetensors_bytes(scaled, metadata))
    return path


def _variant(source: Path, folder: Path, name: str, tensors=None, config=None, **metadata) -> Path:
    """``source`` with some tensors or metadata replaced."""
    with safe_open(str(source), framework="pt") as handle:
        original = {key: handle.get_tensor(key) for key in handle.keys()}
        header = dict(handle.metadata())
    if config is not None:
        header["config"] = config(json.loads(header["config"])) if callable(config) else config
    header.update(metadata)
    path = folder / name
    path.write_bytes(safetensors_bytes({**original, **(tensors or {})}, header))
    return path


def _set(field, value):
    return lambda config: json.dumps({**config, field: value})


@pytest.fixture(scope="module")
def broken_ladders(tmp_path_factory, trained_backbone):
    """The damaged ladders and the forged U-Net checkpoints, made once for the module: each holds
    U-Net checkpoints (20 MB a file), which a copy per test case would multiply into tens of
    gigabytes. Commands only read them."""
    folder = tmp_path_factory.mktemp("ladders")
    return {
        **_broken_ladders(trained_backbone, folder),
        "overflowing ema": _overflowing(trained_backbone, folder / "overflow.safetensors"),
        "1024 px": _variant(trained_backbone, folder, "1024px.safetensors", config=_set("resolution", 1024)),
    }


@pytest.fixture
def files(tmp_path, trained, trained_backbone, broken_ladders):
    regular = tmp_path / "a-file"
    regular.write_text("x")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "empty-results").mkdir()
    (tmp_path / "README-plain.md").write_text("# no markers\n")
    nan = torch.full_like(_tensor(trained, "ema.layers.0.weight"), float("nan"))
    moment = _tensor(trained, "optim.0.exp_avg")
    forged = {
        "prefix": forged_checkpoint(tmp_path, "prefix.safetensors", {"evil.weight": torch.zeros(1)}),
        "no step": forged_checkpoint(tmp_path, "nostep.safetensors", step=None),
        "bad step": forged_checkpoint(tmp_path, "badstep.safetensors", step="abc"),
        "long step": forged_checkpoint(tmp_path, "longstep.safetensors", step="9" * 5000),
        "empty config": forged_checkpoint(tmp_path, "empty.safetensors", config="{}"),
        "config types": _variant(trained, tmp_path, "types.safetensors", config=_set("train_steps", "many")),
        "config fields": _variant(trained, tmp_path, "fields.safetensors", config=_set("evil", 1)),
        "deep config": _variant(trained, tmp_path, "deep.safetensors", config="[" * 200_000 + "]" * 200_000),
        "long int": _variant(trained, tmp_path, "longint.safetensors", config=_set("train_steps", 10**300)),
        "nan config": _variant(
            trained, tmp_path, "nan.safetensors", config=lambda c: json.dumps(c).replace('"lr": 0.0002', '"lr": NaN')
        ),
        "negative dim": _variant(trained, tmp_path, "negdim.safetensors", config=_set("model_options", {"depth": -8})),
        "huge width": _variant(trained, tmp_path, "huge.safetensors", config=_set("model_options", {"width": 2**40})),
        "huge resolution": _variant(trained, tmp_path, "res.safetensors", config=_set("resolution", 2**20)),
        "huge timesteps": _variant(trained, tmp_path, "timesteps.safetensors", config=_set("timesteps", 10**12)),
        "other model": _variant(trained, tmp_path, "other.safetensors", config=_set("model", "conv-ae")),
        "int8 weights": _variant(
            trained,
            tmp_path,
            "int8.safetensors",
            {"ema.layers.0.weight": _tensor(trained, "ema.layers.0.weight").to(torch.int8)},
        ),
        "nan weights": _variant(trained, tmp_path, "nanweights.safetensors", {"ema.layers.0.weight": nan}),
        "wrong shape": _variant(trained, tmp_path, "shape.safetensors", {"ema.layers.0.weight": torch.zeros(3)}),
        "optimizer": forged_checkpoint(tmp_path, "optim.safetensors", {"optim.x.step": torch.zeros(1)}),
        "truncated": tmp_path / "truncated.safetensors",
        "huge tensor": _huge_tensor(tmp_path / "4tib.safetensors"),
        "sparse 4 TiB": _huge_tensor(tmp_path / "sparse.safetensors", sparse=True),
        "adam negative": _variant(trained, tmp_path, "adamneg.safetensors", {"optim.0.exp_avg_sq": -moment.abs() - 1}),
        "adam nan": _variant(trained, tmp_path, "adamnan.safetensors", {"optim.0.exp_avg": moment * float("nan")}),
        "adam shape": _variant(trained, tmp_path, "adamshape.safetensors", {"optim.0.exp_avg": torch.zeros(3)}),
        "adam vector step": _variant(trained, tmp_path, "adamvector.safetensors", {"optim.0.step": torch.ones(2)}),
        "adam huge step": _variant(trained, tmp_path, "adamhuge.safetensors", {"optim.0.step": torch.tensor(1e30)}),
        "adam missing": _without_optimizer(trained, tmp_path / "adamnone.safetensors"),
        "trained": trained,
    }
    forged["truncated"].write_bytes(trained.read_bytes()[:1000])
    forged.update(_image_folders(tmp_path))
    forged.update(broken_ladders)
    return {"dir": tmp_path, "file": regular, "fifo": tmp_path / "fifo", "dangling": tmp_path / "dangling", **forged}


def _image_folders(folder: Path) -> dict[str, Path]:
    """Image folders of bad files only (whichever a batch draws is bad), each beside a fifo and a
    folder named like images, and an MNIST root of garbage files."""
    from PIL import Image

    good = folder / "good.png"
    Image.new("RGB", (20, 20), (200, 0, 0)).save(good)
    bomb = folder / "bomb.png"
    Image.new("1", (9000, 9000)).save(bomb)
    folders = {}
    for damage, content in (("corrupt", good.read_bytes()[:60]), ("empty", b""), ("bomb", bomb.read_bytes())):
        images = folder / f"images-{damage}"
        images.mkdir()
        os.mkfifo(images / "fifo.png")  # not a regular file: never opened
        (images / "folder.png").mkdir()  # likewise
        for index in range(12):
            (images / f"bad{index}.png").write_bytes(content)
        folders[f"images {damage}"] = images
    raw = folder / "mnist-garbage" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (raw / name).write_bytes(b"\x00\x00\x08\x03" + b"garbage" * 10)
    folders["mnist garbage"] = folder / "mnist-garbage"
    return folders


def _rewritten(path: Path, tensors=None, **metadata) -> bytes:
    """The bytes of checkpoint ``path`` with some tensors or metadata replaced."""
    with safe_open(str(path), framework="pt") as handle:
        original = {key: handle.get_tensor(key) for key in handle.keys()}
        header = dict(handle.metadata())
    return safetensors_bytes({**original, **(tensors or {})}, {**header, **metadata})


def _with_ladder_entry(path: Path, step: int, **changes) -> bytes:
    """Checkpoint ``path`` with the ladder entry of ``step`` changed."""
    with safe_open(str(path), framework="pt") as handle:
        ladder = json.loads(handle.metadata()["ladder"])
    return _rewritten(path, ladder=json.dumps([{**e, **changes} if e["step"] == step else e for e in ladder]))


def _broken_ladders(backbone: Path, folder: Path) -> dict[str, Path]:
    """Checkpoint folders of the smoke backbone (a ladder of rungs 1 and 3), each damaged or forged
    one way: its rung at step 1 missing, replaced by another file, forged with the checkpoint's
    record forged to match (another run, other data, another step's metadata, NaN weights), the
    record itself forged (CPU-seconds out of order), or written before rungs had a run."""
    import hashlib

    name = "unet-mnist5k-smoke-seed0"
    rung = backbone.with_name("unet.step0000001.safetensors")
    nan = torch.full_like(_tensor(rung, "ema.downs.0.0.block1.proj.weight"), float("nan"))
    rungs: dict[str, bytes | None] = {
        "missing rung": None,
        "foreign rung": backbone.read_bytes(),
        "other run's rung": _rewritten(rung, run_id="0123456789abcdef"),
        "other data rung": _rewritten(rung, data_fingerprint="another"),
        "other step rung": _rewritten(rung, step="3"),
        "nan rung": _rewritten(rung, {"ema.downs.0.0.block1.proj.weight": nan}),
    }
    ladders = {}
    for damage in (*rungs, "rung seconds", "checkpoint seconds", "legacy ladder"):
        ladder = folder / damage.replace(" ", "-").replace("'", "")
        ladder.mkdir()
        top, kept = backbone.read_bytes(), rungs.get(damage, rung.read_bytes())
        if damage.startswith(("other", "nan")):  # a forger who also rewrites the checkpoint's record
            top = _with_ladder_entry(backbone, 1, sha256=hashlib.sha256(kept).hexdigest())
        elif damage == "rung seconds":
            top = _with_ladder_entry(backbone, 1, cpu_seconds=100_000.0)
        elif damage == "checkpoint seconds":
            top = _rewritten(backbone, cpu_seconds="0.001")
        elif damage == "legacy ladder":
            top = safetensors_bytes(*_legacy(backbone))
        (ladder / f"{name}.safetensors").write_bytes(top)
        if kept is not None:
            (ladder / f"{name}.step0000001.safetensors").write_bytes(kept)
        ladders[damage] = ladder
    ladders["rung file"] = rung
    return ladders


def _legacy(path: Path) -> tuple[dict, dict]:
    """The tensors and metadata of a checkpoint as written before runs had an identity."""
    with safe_open(str(path), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        metadata = {k: v for k, v in handle.metadata().items() if k not in ("run_id", "role", "images_seen", "ladder")}
    return tensors, metadata


def _huge_tensor(path: Path, sparse: bool = False) -> Path:
    """A safetensors header declaring a 4 TiB tensor: over 4 bytes of data, or (``sparse``) over a
    sparse file of 4 TiB whose size agrees with the header."""
    size = 4 * 2**40 if sparse else 4
    header = json.dumps(
        {
            "__metadata__": {"format": FORMAT},
            "model.w": {"dtype": "F32", "shape": [1024, 1024, 1024, 1024], "data_offsets": [0, size]},
        }
    ).encode()
    with open(path, "wb") as handle:
        handle.write(len(header).to_bytes(8, "little") + header)
        handle.truncate(8 + len(header) + size)
    return path


def _without_optimizer(source: Path, path: Path) -> Path:
    with safe_open(str(source), framework="pt") as handle:
        kept = {key: handle.get_tensor(key) for key in handle.keys() if not key.startswith("optim.")}
        path.write_bytes(safetensors_bytes(kept, dict(handle.metadata())))
    return path


def _tensor(path: Path, key: str) -> torch.Tensor:
    with safe_open(str(path), framework="pt") as handle:
        return handle.get_tensor(key)


NOT_UTF8 = "out-\udcff"
LONG = "x" * 300
LONG_PATH = "/".join(["y" * 200] * 25)
D = True
"""Marks a case whose ``--dry-run`` must refuse it too."""
RESUME = ("train", "--preset", "smoke", "--model", "dncnn", "--resume", "--train-steps", "9", "--checkpoint")
CASES = [
    # efficiency
    (("efficiency", "--batch", "0"), "--batch values must be integers from 1", D),
    (("efficiency", "--batch", "-1"), "--batch values must be integers from 1", D),
    (("efficiency", "--batch", "1,x"), "comma-separated integers", D),
    (("efficiency", "--batch", "1,1"), "--batch has duplicated values", D),
    (("efficiency", "--batch", "9" * 25), "at most 12 digits", D),
    (("efficiency", "--batch", "5000"), "--batch values must be between 1 and 4,096", D),
    (("efficiency", "--memory-batch", "0"), "--memory-batch values must be integers from 1", D),
    (("efficiency", "--memory-batch", "100000"), "--memory-batch values must be between 1", D),
    (("efficiency", "--resolution", "0"), "--resolution values must be integers from 1", D),
    (("efficiency", "--resolution", "60", "--models", "unet"), "divisible by 8", D),
    (("efficiency", "--resolution", "1099511627776"), "at most 12 digits", D),
    (("efficiency", "--resolution", "109951162777"), "whole number of pixels from 1 to 1024", D),
    (("efficiency", "--resolution", "2048"), "whole number of pixels from 1 to 1024", D),
    (("efficiency", "--channels", "0"), "--channels must be between 1 and 16", D),
    (("efficiency", "--channels", "99"), "--channels must be between 1 and 16", D),
    (("efficiency", "--sampling-steps", "0"), "--sampling-steps values must be integers from 1", D),
    (("efficiency", "--sampling-steps", "5000"), "--sampling-steps values must be between 1 and 1,000", D),
    (("efficiency", "--repeats", "0"), "--repeats must be between 1 and 10,000", D),
    (("efficiency", "--repeats", "10001"), "--repeats must be between 1 and 10,000", D),
    (("efficiency", "--variants", "turbo"), "--variants takes distinct names", D),
    (("efficiency", "--variants", "compiled"), "eager included", D),
    (("efficiency", "--variants", "eager,eager"), "--variants has duplicated names", D),
    (("efficiency", "--models", "nope"), "unknown model 'nope'", D),
    (("efficiency", "--models", "bm3d"), "not a network", D),
    (("efficiency", "--models", "unet,unet"), "--models has duplicated names", D),
    (("efficiency", "--models", ""), "--models needs at least one name", D),
    (("efficiency", "--solver", "rk5"), "unknown solver 'rk5'", D),
    (("efficiency", "--solver", "dopri5:rtol=inf"), "rtol must be a finite number", D),
    (("efficiency", "--solver", "dopri5:atol=1e999"), "atol must be a finite number", D),
    (("efficiency", "--solver", "rk4:steps=2,steps=3"), "given twice", D),
    (("efficiency", "--solver", "rk4:adjoint=maybe"), "adjoint must be true or false", D),
    (("efficiency", "--solver", "rk4:steps=" + "9" * 25), "steps must be an integer from 1", D),
    (("efficiency", "--solver", "rk4:steps=0"), "steps must be an integer from 1", D),
    (("efficiency", "--solver", "rk4:t_end=-1"), "t_end must be in", D),
    (("efficiency", "--solver", "rk4:order=4"), "bad solver option", D),
    (("efficiency", "--solver", "scipy_solver"), "unknown solver 'scipy_solver' for backend torchdiffeq", D),
    (("efficiency", "--device", "tpu"), "--device must be cpu, cuda or auto", D),
    (("efficiency", "--seed", "99999999999999999999"), "--seed must be an integer", D),
    (("efficiency", "--seed", "-1"), "--seed must be an integer", D),
    (("efficiency", "--preset", "huge"), "unknown preset 'huge'", D),
    (("efficiency", "--out", ""), "--out needs a folder name", D),
    (("efficiency", "--out", "{file}"), "is a file, not a folder", D),
    (("efficiency", "--out", "{file}/below"), "is a file, not a folder", D),
    (("efficiency", "--out", "{dangling}/below"), "is a dangling link, not a folder", D),
    (("efficiency", "--out", NOT_UTF8), "the name is not valid UTF-8", D),
    (("efficiency", "--out", LONG), "bytes long, more than a file system takes", D),
    (("efficiency", "--foo"), "no such option: --foo (see bench efficiency --help)", D),
    # solvers
    (("solvers", "--resolution", "-64"), "whole number of pixels from 1 to 1024, got -64", D),
    (("solvers", "--resolution", "0"), "whole number of pixels from 1 to 1024, got 0", D),
    (("solvers", "--solver", "rk4", "--solver", "rk4"), "--solver is given twice", D),
    (("solvers", "--solver", "dopri5"), "fixed-step methods", D),
    (("solvers", "--model", "unet"), "has no ODE solver", D),
    (("solvers", "--batch", "0"), "--batch values must be integers from 1", D),
    (("solvers", "--repeats", "0"), "--repeats must be between 1", D),
    (("solvers", "--out", "{file}"), "is a file, not a folder", D),
    # train
    (("train", "--model", "unet", "--train-steps", "0"), "train-steps must be an integer from 1", D),
    (("train", "--model", "unet", "--train-steps", "99999999999"), "train-steps must be an integer from 1", D),
    (("train", "--model", "unet", "--lr", "0"), "learning rate must be a positive number", D),
    (("train", "--model", "unet", "--lr", "inf"), "learning rate must be a positive number", D),
    (("train", "--model", "unet", "--lr", "nan"), "learning rate must be a positive number", D),
    (("train", "--model", "unet", "--batch-size", "0"), "batch-size must be an integer from 1", D),
    (("train", "--model", "unet", "--batch-size", "100000"), "batch-size must be an integer from 1", D),
    (("train", "--model", "unet", "--resolution", "0"), "image size must be a whole number of pixels", D),
    (("train", "--model", "unet", "--resolution", "30"), "divisible by 8", D),
    (("train", "--model", "unet", "--resolution", "4096"), "pixels from 1 to 1024, got 4096", D),
    (("train", "--model", "dncnn", "--sigma", "5"), "--sigma needs 0 < LOW <= HIGH <= 1", D),
    (("train", "--model", "dncnn", "--sigma", "0.1:inf"), "--sigma needs 0 < LOW <= HIGH <= 1", D),
    (("train", "--model", "dncnn", "--sigma", "0.3:0.1"), "--sigma needs 0 < LOW <= HIGH <= 1", D),
    (("train", "--model", "dncnn", "--sigma", "0"), "--sigma needs 0 < LOW <= HIGH <= 1", D),
    (("train", "--model", "dncnn", "--sigma", "high"), "--sigma takes a number", D),
    (("train", "--model", "unet", "--schedule", "quadratic"), "schedule", D),
    (("train", "--model", "unet", "--pause-at", "0"), "--pause-at 0 is not a step between 1 and --train-steps", D),
    (
        ("train", "--model", "unet", "--pause-at", "301"),
        "--pause-at 301 is not a step between 1 and --train-steps 3",
        D,
    ),
    (("train", "--model", "unet", "--rungs", "0"), "rungs must be an integer from 1 to 30, got 0", D),
    (("train", "--model", "unet", "--rungs", "31"), "rungs must be an integer from 1 to 30, got 31", D),
    (("train", "--model", "unet", "--lr-decay", "step"), "unknown lr-decay 'step'; choose constant, cosine, linear", D),
    (("train", "--model", "unet", "--lr-warmup", "-3"), "lr-warmup must be a whole number of steps, got -3", D),
    (("train", "--model", "unet", "--min-snr-gamma", "-1"), "min-snr-gamma must be 0 (uniform weighting)", D),
    (("train", "--model", "unet", "--ema-warmup-power", "-1"), "ema-warmup-power must be 0 (no warm-up) or from", D),
    (
        ("train", "--model", "unet", "--ema-warmup-power", "1e-320"),
        "ema-warmup-power must be 0 (no warm-up) or from",
        D,
    ),
    (("train", "--model", "unet", "--min-snr-gamma", "1e-320"), "min-snr-gamma must be 0 (uniform weighting) or", D),
    (("train", "--model", "unet", "--lr-warmup", "10000001", "--train-steps", "3"), "is longer than the run", D),
    (("train", "--model", "unet", "--checkpoint-minutes", "0"), "checkpoint-minutes must be a number from 0.01", D),
    (("train", "--model", "unet", "--checkpoint-minutes", "nan"), "checkpoint-minutes must be a number from 0.01", D),
    (("train", "--model", "unet", "--batch-size", "8.0"), "--batch-size '8.0': takes a whole number", D),
    (("train", "--model", "unet", "--train-steps", "1e3"), "--train-steps '1e3': takes a whole number", D),
    (("train", "--model", "unet", "--threads", " 1"), "--threads ' 1': write the number without spaces around it", D),
    (
        ("fid", "--preset", "paper", "--curve-steps", "30"),
        "--curve-steps applies to the learning curve; add --curves",
        D,
    ),
    (
        ("fid", "--preset", "paper", "--curve-rungs", "2"),
        "--curve-rungs applies to the learning curve; add --curves",
        D,
    ),
    (("denoise", "--preset", "paper", "--curve-rungs", "2"), "--curve-rungs applies to the learning curve; add", D),
    (("train", "--model", "unet", "--ema-decay", "1"), "EMA decay must be in [0, 1), got 1.0", D),
    (("train", "--model", "dncnn", "--min-snr-gamma", "5"), "weights the diffusion loss of backbones; dncnn is a", D),
    *(
        ((bench, "--preset", "smoke", "--models", "unet", "--curves", "--checkpoints", f"{{{damage}}}"), message, False)
        for bench, damage, message in (
            ("fid", "missing rung", "keeps a rung at step 1 (unet-mnist5k-smoke-seed0.step0000001.safetensors), but"),
            (
                "denoise",
                "foreign rung",
                "step0000001.safetensors is not the file its run recorded (its SHA-256 differs)",
            ),
            ("fid", "other run's rung", "unet-mnist5k-smoke-seed0.step0000001.safetensors is not step 1 of the run of"),
            ("denoise", "other data rung", "unet-mnist5k-smoke-seed0.step0000001.safetensors is not step 1 of the run"),
            ("fid", "other step rung", "unet-mnist5k-smoke-seed0.step0000001.safetensors is not step 1 of the run of"),
            ("fid", "nan rung", "tensor downs.0.0.block1.proj.weight of its EMA weights holds non-finite"),
            ("denoise", "rung seconds", "records rung 3 out of order (steps, images and CPU-seconds must grow"),
            ("fid", "checkpoint seconds", "records rung 3 beyond its own step 3 or CPU-seconds"),
            ("fid", "legacy ladder", "was written before rungs were tied to their run; resume it once"),
        )
    ),
    (RESUME[:-3] + ("--train-steps", "9", "--checkpoint", "{rung file}"), "is a rung of a run's ladder", False),
    (("fid", "--preset", "smoke", "--train-seeds", "0,0"), "--train-seeds has duplicated values: 0,0", D),
    (("fid", "--preset", "smoke", "--curve-steps", "0"), "--curve-steps must be between 1 and 100,000, got 0", D),
    (("denoise", "--preset", "smoke", "--curve-rungs", "1"), "--curve-rungs must be an integer from 2 (the last", D),
    (("fid", "--preset", "smoke", "--at-step", "0"), "--at-step must be a training step from 1 to 10,000,000", D),
    (
        ("fid", "--preset", "smoke", "--models", "unet", "--at-step", "2", "--checkpoints", "{missing rung}"),
        "keeps no rung at step 2 (its rungs below step 3: 1)",
        False,
    ),
    (("train", "--model", "unet", "--objective", "score"), "objective", D),
    (("train", "--model", "unet", "--data", "imagenet"), "unknown dataset 'imagenet'", D),
    (("train", "--model", "unet", "--data", "mnist5k", "--data-root", "{dir}"), "is embedded in the harness", D),
    (("train", "--model", "unet", "--data", "celeba"), "needs --data-root", D),
    (("train", "--model", "unet", "--data", "mnist", "--data-root", "/nonexistent"), "is not a folder", D),
    (("train", "--model", "unet", "--data", "mnist", "--data-root", "{file}"), "is not a folder", D),
    (("train", "--model", "unet", "--checkpoint", "{dir}"), "is a folder; give a file name", D),
    (("train", "--model", "unet", "--checkpoint", "{file}/x.safetensors"), "is a file, not a folder", D),
    (("train", "--model", "unet", "--checkpoints", "{file}"), "is a file, not a folder", D),
    (("train", "--model", "bm3d"), "nothing to train", D),
    (("train", "--model", "nope"), "unknown model 'nope'", D),
    (("train", "--model", "unet", "--seed", "1180591620717411303424"), "--seed must be an integer from 0 to", D),
    (("train", "--model", "unet", "--seed", "-1"), "--seed must be an integer from 0 to", D),
    (("train", "--model", "unet", "--foo"), "no such option: --foo (see bench train --help)", D),
    (("train", "--model", "unet", "--preset", "huge"), "unknown preset 'huge'", D),
    # train --resume: the optimizer state and the step of the checkpoint resumed
    (RESUME + ("{adam negative}",), "optimizer state 0.exp_avg_sq holds negative values", False),
    (RESUME + ("{adam nan}",), "optimizer state 0.exp_avg holds non-finite values", False),
    (RESUME + ("{adam shape}",), "optimizer state 0.exp_avg is torch.float32 (3,), not the parameter's", False),
    (RESUME + ("{adam vector step}",), "optimizer state 0.step is torch.float32 (2,), not a scalar count", False),
    (RESUME + ("{adam huge step}",), "0.step is 1e+30, not a whole number from 1 to the checkpoint's step 3", False),
    (RESUME + ("{adam missing}",), "lacks its optimizer state, so it cannot be resumed exactly", False),
    (RESUME[:-3] + ("--checkpoint", "{trained}"), "is already at step 3, not before --train-steps 3", False),
    # train: images a --data-root holds (decoded during the run, so the dry run cannot know them)
    (
        (
            "train",
            "--model",
            "dncnn",
            "--preset",
            "smoke",
            "--data",
            "folder",
            "--data-root",
            "{images corrupt}",
            "--checkpoint",
            "{dir}/c.safetensors",
        ),
        ".png of --data-root cannot be read: image file is truncated",
        False,
    ),
    (
        (
            "train",
            "--model",
            "dncnn",
            "--preset",
            "smoke",
            "--data",
            "folder",
            "--data-root",
            "{images empty}",
            "--checkpoint",
            "{dir}/c.safetensors",
        ),
        ".png of --data-root cannot be read: cannot identify image",
        False,
    ),
    (
        (
            "train",
            "--model",
            "dncnn",
            "--preset",
            "smoke",
            "--data",
            "folder",
            "--data-root",
            "{images bomb}",
            "--checkpoint",
            "{dir}/c.safetensors",
        ),
        ".png of --data-root cannot be read: 9000×9000 pixels",
        False,
    ),
    (
        (
            "train",
            "--model",
            "dncnn",
            "--preset",
            "smoke",
            "--data",
            "mnist",
            "--data-root",
            "{mnist garbage}",
            "--checkpoint",
            "{dir}/c.safetensors",
        ),
        "mnist not found or unreadable under --data-root",
        False,
    ),
    # paths the file system cannot take, or that are not UTF-8
    (("train", "--model", "unet", "--checkpoint", NOT_UTF8), "the name is not valid UTF-8", D),
    (("train", "--model", "unet", "--data", "folder", "--data-root", NOT_UTF8), "the name is not valid UTF-8", D),
    (("sample", "--checkpoint", NOT_UTF8), "the name is not valid UTF-8", D),
    (("report", "--results", "{empty-results}", "--reference", NOT_UTF8), "the name is not valid UTF-8", D),
    (("efficiency", "--out", LONG_PATH), "more than a file system takes (4,095)", D),
    (("train", "--model", "unet", "--checkpoints", LONG_PATH), "more than a file system takes (4,095)", D),
    (("train", "--model", "unet", "--checkpoint", LONG_PATH + "/c.safetensors"), "more than a file system takes", D),
    (("sample", "--checkpoint", LONG_PATH + "/c.safetensors"), "a path is too long for the file system", False),
    # options that would be read differently from what they say, or do not apply
    (("efficiency", "--preset", "smoke", "--preset", "quick"), "--preset is given twice (as --preset and --preset)", D),
    (("train", "--model", "unet", "--model", "cunet", "--model", "dncnn"), "--model is given twice", D),
    (("efficiency", "--memory", "--no-memory"), "--no-memory is given twice (as --memory and --no-memory)", D),
    (("fid", "--sampling-steps=5", "--sampling-steps=10"), "--sampling-steps is given twice", D),
    (("train", "--model", "dncnn", "--seed", "1_000"), "--seed '1_000': write numbers with ASCII digits 0-9", D),
    (("denoise", "--noise-steps", "\u0665\u0660"), "write numbers with ASCII digits 0-9 and no '_'", D),
    (("denoise", "--models", "unet\n"), "holds a control character", D),
    (("denoise", "--models", "unet,,cunet"), "--models has an empty name between commas", D),
    (("train", "--model", "unet", "--sigma", "0.1"), "--sigma is the noise level of denoisers; unet is a diffusion", D),
    (("denoise", "--pixel-noise", "0.1"), "--pixel-noise applies to the release protocol, not the paper protocol", D),
    (("denoise", "--protocol", "release", "--noise-steps", "50"), "--noise-steps applies to the paper protocol", D),
    (("train", "--model", "dncnn", "--sigma", "0.1:"), "--sigma takes a number or a range LOW:HIGH, got '0.1:'", D),
    (("train", "--model", "dncnn", "--sigma", "1e-320"), "LOW at least 1e-06", D),
    (("train", "--model", "dncnn", "--lr", "1e-320"), "learning rate must be a positive number from 1e-10 to 10", D),
    (("train", "--model", "dncnn", "--threads", "1024"), "--threads must be between 1 and the", D),
    (("denoise", "--noise-steps", "1001"), "--noise-steps must be integers in 1 … 1,000 (the backbones' T)", D),
    (("denoise", "--noise-steps", "5000"), "--noise-steps must be integers in 1 … 1,000 (the backbones' T)", D),
    (("denoise", "--noise-steps", ",".join(str(n) for n in range(1, 20_001))), "integers in 1 … 1,000", D),
    (("fid", "--sampling-steps", "1001"), "--sampling-steps must be between 1 and 1000 (the backbones' T)", D),
    # sample: options
    (("sample", "--checkpoint", "x.safetensors", "--num-samples", "99999999999999999999"), "between 1 and 10,000", D),
    (("sample", "--checkpoint", "x.safetensors", "--num-samples", "0"), "--num-samples must be between 1 and", D),
    (("sample", "--checkpoint", "x.safetensors", "--batch-size", "0"), "--batch-size must be between 1 and", D),
    (("sample", "--checkpoint", "x.safetensors", "--sampling-steps", "0"), "--sampling-steps must be between 1", D),
    (("sample", "--checkpoint", "x.safetensors", "--sampler", "euler"), "unknown sampler 'euler'", D),
    (("sample", "--checkpoint", "x.safetensors", "--out", "{file}"), "is a file, not a folder", D),
    (("sample", "--checkpoint", "x.safetensors", "--out", "{file}/below"), "is a file, not a folder", D),
    (("sample", "--checkpoint", "x.safetensors", "--out", ""), "--out needs a folder name", D),
    (("sample", "--checkpoint", "x.safetensors", "--out", NOT_UTF8), "not valid UTF-8", D),
    (("sample", "--checkpoint", "x.safetensors", "--out", f"a/{LONG}/b"), "more than a file system takes", D),
    # sample: checkpoint files
    (("sample", "--checkpoint", "{prefix}"), "holds an unexpected tensor 'evil.weight'", False),
    (("sample", "--checkpoint", "{no step}"), "lacks its step metadata", False),
    (("sample", "--checkpoint", "{bad step}"), "has a malformed step 'abc'", False),
    (("sample", "--checkpoint", "{long step}"), "has a malformed step", False),
    (("sample", "--checkpoint", "{empty config}"), "has no readable training configuration", False),
    (("sample", "--checkpoint", "{config types}"), "records train_steps = 'many', not a int", False),
    (("sample", "--checkpoint", "{config fields}"), "unusable training configuration (unknown fields evil)", False),
    (("sample", "--checkpoint", "{deep config}"), "nested more than 32 levels deep", False),
    (("sample", "--checkpoint", "{long int}"), "holds an integer of 301 digits", False),
    (("sample", "--checkpoint", "{nan config}"), "non-standard number NaN", False),
    (("sample", "--checkpoint", "{negative dim}"), "option depth must be whole numbers from 3", False),
    (("sample", "--checkpoint", "{huge width}"), "option width must be whole numbers from 1 to 4096", False),
    (("sample", "--checkpoint", "{huge resolution}"), "image size must be a whole number of pixels", False),
    (("sample", "--checkpoint", "{huge timesteps}"), "timesteps must be an integer from 1 to 100,000", False),
    (("sample", "--checkpoint", "{other model}"), "model 'conv-ae' does not accept that option", False),
    (("sample", "--checkpoint", "{int8 weights}"), "is torch.int8, not torch.float32", False),
    (("sample", "--checkpoint", "{nan weights}"), "holds non-finite values", False),
    (("sample", "--checkpoint", "{wrong shape}"), "of another shape", False),
    (("sample", "--checkpoint", "{truncated}"), "not a readable safetensors file", False),
    (
        (
            "sample",
            "--checkpoint",
            "{overflowing ema}",
            "--num-samples",
            "2",
            "--sampling-steps",
            "2",
            "--out",
            "{dir}/s",
        ),
        "the network's output is not finite",
        False,
    ),
    (
        ("sample", "--checkpoint", "{1024 px}", "--batch-size", "16", "--out", "{dir}/s"),
        "--batch-size 16 at 1024×1024 px is 16,777,216 pixels in one batch, more than 4,194,304; use --batch-size 4",
        False,
    ),
    (("sample", "--checkpoint", "{huge tensor}"), "declares [1024, 1024, 1024, 1024] F32 beyond its bytes", False),
    (("sample", "--checkpoint", "{sparse 4 TiB}"), "bytes, more than any file of the harness", False),
    (("sample", "--checkpoint", "{dir}"), "is a folder, not a file", False),
    (("sample", "--checkpoint", "{fifo}"), "is a fifo, not a file", False),
    (("sample", "--checkpoint", "{dangling}"), "is a dangling link, not a file", False),
    (("sample", "--checkpoint", "missing.safetensors"), "does not exist", False),
    # denoise
    (("denoise", "--noise-steps", "nan"), "comma-separated integers", D),
    (("denoise", "--noise-steps", "inf"), "comma-separated integers", D),
    (("denoise", "--noise-steps", "50.5"), "comma-separated integers", D),
    (("denoise", "--noise-steps", "0"), "--noise-steps must be integers in 1", D),
    (("denoise", "--noise-steps", "50,50"), "--noise-steps has duplicated values", D),
    (("denoise", "--noise-steps", "200000"), "--noise-steps must be integers in 1", D),
    (("denoise", "--protocol", "release", "--pixel-noise", "0.5"), "--pixel-noise must be among", D),
    (("denoise", "--protocol", "release", "--pixel-noise", "nan"), "--pixel-noise values must be finite", D),
    (("denoise", "--protocol", "blind"), "unknown protocol 'blind'", D),
    (("denoise", "--models", ""), "--models needs at least one name", D),
    (("denoise", "--models", "dncnn,dncnn"), "--models has duplicated names: dncnn,dncnn", D),
    (("denoise", "--models", " , "), "--models needs at least one name", D),
    (("denoise", "--models", "nope"), "unknown model 'nope'", D),
    (("denoise", "--num-images", "0"), "--num-images must be between 1 and 100,000", D),
    (("denoise", "--num-images", "1000000"), "--num-images must be between 1 and 100,000", D),
    (("denoise", "--solver", "rk4", "--solver", "rk4:steps=1"), "--solver is given twice", D),
    (("denoise", "--data", "imagenet"), "unknown dataset 'imagenet'", D),
    (("denoise", "--data", "mnist5k", "--data-root", "{dir}"), "is embedded in the harness", D),
    (("denoise", "--data", "celeba"), "needs --data-root", D),
    (("fid", "--data", "lsun-church", "--data-root", "{dir}/nowhere"), "is not a folder", D),
    (("denoise", "--checkpoints", "{file}"), "is a file, not a folder", D),
    (("denoise", "--out", "{file}"), "is a file, not a folder", D),
    (("denoise", "--preset", "huge"), "unknown preset 'huge'", D),
    (("denoise", "--models", "dncnn", "--checkpoints", "{dir}"), "no checkpoint", False),
    # fid
    (("fid", "--features", "inception"), "needs the Inception weights, which are not installed", D),
    (("fid", "--features", "clip"), "unknown features 'clip'", D),
    (("fid", "--num-samples", "99999999999999999999"), "between 2 and 1,000,000", D),
    (("fid", "--num-samples", "1"), "--num-samples must be between 2 and 1,000,000", D),
    (("fid", "--num-samples", "64"), "not above the feature dimension 64", D),
    (("fid", "--sampling-steps", "0"), "--sampling-steps values must be integers from 1", D),
    (("fid", "--sampling-steps", "5,5"), "--sampling-steps has duplicated values", D),
    (("fid", "--sampling-steps", "1000000"), "--sampling-steps values must be between 1 and 100,000", D),
    (("fid", "--sampler", "heun"), "unknown sampler 'heun'", D),
    (("fid", "--batch-size", "0"), "--batch-size must be between 1", D),
    (("fid", "--dims", "100"), "--dims 100 applies to Inception features", D),
    (("fid", "--models", "nope"), "unknown model 'nope'", D),
    (("fid", "--models", "dncnn"), "a denoiser, not a diffusion backbone", D),
    (("fid", "--checkpoints", "{file}"), "is a file, not a folder", D),
    # report and compare
    (("report", "--out", "{file}"), "is a file, not a folder", D),
    (("report", "--out", ""), "--out needs a folder name", D),
    (("report", "--results", "{dir}/nowhere"), "does not exist", D),
    (("report", "--results", "{empty-results}", "--alternative-pair", "{dir}/nowhere"), "does not exist", D),
    (
        ("report", "--results", "{empty-results}", "--alternative-pair", "{empty-results}"),
        "has no learning curve of a model this report measured",
        False,
    ),
    (("report", "--results", "{file}"), "is a file", D),
    (("report", "--results", "{dangling}"), "is a dangling link", D),
    (("report", "--results", "{empty-results}", "--readme", "{dir}/missing.md"), "is missing, not a file", D),
    (("report", "--results", "{empty-results}", "--readme", "{dir}"), "is a folder, not a file", D),
    (("report", "--results", "{empty-results}", "--readme", "{fifo}"), "is a fifo, not a file", D),
    (("report", "--results", "{empty-results}", "--readme", "{plain-readme}"), "needs one", D),
    (("report", "--results", "{empty-results}", "--reference", "{dir}/nowhere"), "--reference", D),
    (("compare", "{dir}/nowhere", "{empty-results}"), "BASE {dir}/nowhere does not exist", False),
    (("compare", "{file}", "{empty-results}"), "is a file", False),
    (("compare", "{empty-results}", "{empty-results}"), "holds no recorded runs", False),
    (("compare", "{empty-results}", "{empty-results}", "--fail-on", "speed"), "--fail-on takes", False),
    (("compare", "{empty-results}", "{empty-results}", "--format", "html"), "--format", False),
    # bench all
    (("all", "--reports", "{file}"), "is a file, not a folder", D),
    (("all", "--checkpoints", "{file}"), "is a file, not a folder", D),
    (("all", "--out", "{file}"), "is a file, not a folder", D),
    (("all", "--preset", "huge"), "unknown preset 'huge'", D),
    (("all", "--seed", "-3"), "--seed must be an integer", D),
    # weights, models, the command itself
    (("weights", "install", "--from", "{dir}"), "is a folder; give the .pth file itself", D),
    (("weights", "install", "--from", "{file}"), "is not a weights file the metrics use", D),
    (("weights", "install", "--from", "missing.pth"), "does not exist", D),
    (("models", "nope"), "unknown model 'nope'; known models: unet", False),
    (("train", "--model", "unet", "--scale", "huge"), "unknown model scale 'huge'; scales: tiny, cpu", D),
    (("all", "--preset", "smoke", "--baseline", "cunet-5attn"), "--baseline cunet-5attn is not measured by this", D),
    (("all", "--preset", "smoke", "--baseline", "nope"), "unknown model 'nope'", D),
    (("all", "--preset", "smoke", "--models", "+nope"), "unknown model 'nope'", D),
    (("all", "--preset", "smoke", "--models", "+"), "each written +NAME", D),
    (("report", "--results", "{empty-results}", "--baseline", "unet"), "--baseline unet is not a model of the", False),
    (("verify", "--against", "{dir}/nowhere"), "--against {dir}/nowhere does not exist", False),
    (("verify", "--against", "{empty-results}"), "holds no complete fid or denoise run measured from shipped", False),
    (("verify", "--against", "{empty-results}", "--threads", "0"), "--threads", False),
    (("verify", "--budget-minutes", "0"), "--budget-minutes must be a number of minutes above 0, got 0", False),
    (("fid", "--weights", "{dir}"), "has no MANIFEST.json: no shipped weights there", D),
    (("denoise", "--weights", "{dir}/nowhere"), "has no MANIFEST.json: no shipped weights there", D),
    (("all", "--preset", "smoke", "--weights", "{dir}"), "has no MANIFEST.json: no shipped weights there", D),
    (("frobnicate",), "frobnicate", False),
]


def _filled(args, files):
    names = {key: str(value) for key, value in files.items()}
    names.update(
        {"empty-results": str(files["dir"] / "empty-results"), "plain-readme": str(files["dir"] / "README-plain.md")}
    )
    return tuple(a.format(**names) if "{" in a else a for a in args)


@pytest.mark.parametrize("args, fragment, dry_run", CASES, ids=[" ".join(a)[:70] for a, _, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, files, tmp_path, args, fragment, dry_run):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.chdir(tmp_path)
    args = _filled(args, files)
    fragment = fragment.format(dir=tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    for attempt in (args, (*args, "--dry-run")) if dry_run else (args,):
        code, _, err = bench(monkeypatch, capsys, *attempt)
        assert code == 2, (attempt, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("bench: error: ") and fragment in lines[0], err
        assert "Possible options" not in err and "\x1b" not in err
        assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_table_is_large_and_distinct_and_the_readme_counts_it():
    assert len(CASES) >= 150 and len({args for args, _, _ in CASES}) == len(CASES)
    readme = " ".join((PACKAGE / "README.md").read_text().split())
    assert (
        f"the table: {len(CASES)} bad inputs across commands, checkpoints and options, {len(ENVIRONMENT_CASES)} "
        f"bad environments, {len(PLUGIN_CASES)} broken plugins and {len(DAMAGES) + len(CURVE_DAMAGES)} damaged "
        "results files"
    ) in readme


DAMAGES = {
    "empty": lambda csv, meta: csv.write_bytes(b""),
    "binary": lambda csv, meta: csv.write_bytes(b"run_id,x\n\x00\xff"),
    "foreign columns": lambda csv, meta: csv.write_text(f"run_id,other\n{csv.stem},1\n"),
    "cut mid-row": lambda csv, meta: csv.write_text(csv.read_text()[: len(csv.read_text()) // 2]),
    "string in a number": lambda csv, meta: csv.write_text(csv.read_text().replace(",0.5,", ",half,", 1)),
    "not json": lambda csv, meta: meta.write_text("{trunc"),
    "empty provenance": lambda csv, meta: meta.write_text("{}"),
    "deep provenance": lambda csv, meta: meta.write_text("[" * 100_000 + "]" * 100_000),
    "provenance of the wrong type": lambda csv, meta: meta.write_text(
        meta.read_text().replace('"cpu_threads": 2', '"cpu_threads": "two"')
    ),
    "infinity in provenance": lambda csv, meta: meta.write_text(
        meta.read_text().replace('"rows": 3', '"rows": Infinity')
    ),
    "undeclared kind": lambda csv, meta: csv.write_text(csv.read_text().replace(",log,", ",weird,", 1)),
    "folder in the way": lambda csv, meta: (csv.unlink(), csv.mkdir()),
    "fifo provenance": lambda csv, meta: (meta.unlink(), os.mkfifo(meta)),
    "seconds of 1e300": lambda csv, meta: _add_column(csv, "seconds", "1e300"),
}


def _add_column(csv: Path, name: str, value: str) -> None:
    header, *lines = csv.read_text().splitlines()
    csv.write_text("\n".join([f"{header},{name}", *(f"{line},{value}" for line in lines)]) + "\n")


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
def test_a_damaged_results_file_is_one_warning_and_the_report_still_builds(monkeypatch, capsys, tmp_path, damage):
    from cunet_bench.records import runs

    meta = {"bench": "training", "command": "bench train", "complete": True, "cpu_threads": 2}
    rows = [{"kind": "log", "model": "unet", "step": s, "loss": 0.5, "train_seed": 0} for s in (1, 2, 3)]
    good = runs.write_run("training", rows, meta, tmp_path / "r")
    bad = runs.write_run("training", rows, meta, tmp_path / "r")
    DAMAGES[damage](bad.csv, bad.json)
    code, _, err = bench(
        monkeypatch, capsys, "report", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--no-reference"
    )
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("bench: warning: skipped")]
    assert len(warnings) == 1 and bad.run_id in warnings[0] and "Traceback" not in err
    report = (tmp_path / "o" / "REPORT.md").read_text()
    assert good.run_id in report and "Runs left out" in report and bad.run_id in report


def test_a_results_folder_that_is_a_file_is_left_out_with_a_warning(monkeypatch, capsys, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "fid").write_text("not a folder")
    code, _, err = bench(
        monkeypatch, capsys, "report", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--no-reference"
    )
    assert code == 0 and "fid: it is a file where a folder of runs should be" in err


def test_sigterm_keeps_the_rows_already_measured_and_says_so_in_one_line(tmp_path):
    from cunet_bench.records import runs

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cunet_bench.cli",
            "efficiency",
            "--preset",
            "smoke",
            "--no-memory",
            "--repeats",
            "10000",
            "--threads",
            "1",
            "--out",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(12)  # imports, the machine's peak and the first counts; the latencies take minutes
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 143
    finally:
        process.kill()
    lines = process.stderr.read().strip().splitlines()
    assert lines[-1] == "bench: stopped by SIGTERM; what was measured is recorded"
    assert lines[0].startswith("results: ") and not any("Traceback" in line for line in lines)
    frame, provenance = runs.load_runs("efficiency", tmp_path), runs.load_provenance("efficiency", tmp_path)
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
    import re

    sources = [
        p for folder in ("cunet_bench", "models", "baselines", "benchmarks") for p in (PACKAGE / folder).rglob("*.py")
    ]
    assert len(sources) > 20
    for path in sources:
        text = path.read_text()
        for pattern, what in FORBIDDEN.items():
            assert not re.search(pattern, text), f"{path.name}: {what}"
        for call in re.findall(r"np\.load\([^)]*\)", text):
            assert "allow_pickle=False" in call, f"{path.name}: {call}"
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{path.name}: {call}"


def test_denoising_images_smaller_than_the_ssim_window_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    """A denoiser may train at any size, but SSIM needs 11×11 pixels: bench denoise says so in one
    line before anything is measured or written, not with a traceback."""
    folders = ("--checkpoints", str(tmp_path / "checkpoints"), "--out", str(tmp_path / "results"))
    code, _, err = bench(
        monkeypatch, capsys, "train", "--preset", "smoke", "--model", "dncnn", "--resolution", "8", *folders
    )
    assert code == 0, err
    code, _, err = bench(monkeypatch, capsys, "denoise", "--preset", "smoke", "--models", "dncnn", *folders)
    assert code == 2 and err.count("\n") == 1
    assert err == "bench: error: SSIM needs images of at least 11×11 pixels (its Gaussian window), got 8×8\n"
    assert not (tmp_path / "results" / "denoise").exists()


ENVIRONMENT_CASES = [
    ({"WORLD_SIZE": "abc"}, ("train", "--model", "dncnn"), "WORLD_SIZE='abc' must be an integer from 1 to 4096"),
    (
        {"WORLD_SIZE": "2"},
        ("train", "--model", "dncnn"),
        "WORLD_SIZE=2 asks for a distributed run, but RANK is not set",
    ),
    ({"WORLD_SIZE": "2", "RANK": "7"}, ("train", "--model", "dncnn"), "RANK='7' must be an integer from 0 to 1"),
    ({"TORCHINDUCTOR_CACHE_DIR": "{file}"}, ("efficiency",), "TORCHINDUCTOR_CACHE_DIR={file} cannot hold the compile"),
    ({"TORCHINDUCTOR_CACHE_DIR": ""}, ("efficiency",), "TORCHINDUCTOR_CACHE_DIR='' is empty or padded with spaces"),
    ({"TORCHINDUCTOR_CACHE_DIR": " /tmp"}, ("efficiency",), "TORCHINDUCTOR_CACHE_DIR=' /tmp' is empty or padded"),
    ({"RANK": "1"}, ("train", "--model", "dncnn"), "RANK='1' is set without WORLD_SIZE"),
    ({"WORLD_SIZE": " 2", "RANK": "0"}, ("train", "--model", "dncnn"), "WORLD_SIZE=' 2' must be an integer from 1"),
]


PLUGIN_CASES = [
    (("train", "--model", "halving", "--preset", "smoke"), "forward(y) must return the input's shape [2, 1, 32, 32]"),
    (("efficiency", "--models", "too-many", "--preset", "smoke"), "it returned [2, 2, 32, 32]"),
    (("train", "--model", "only-denoise", "--preset", "smoke"), "needs forward(y); OnlyDenoise defines no forward"),
    (("denoise", "--models", "dncnn", "--preset", "smoke"), "model 'dncnn' is registered twice"),
    (("all", "--preset", "smoke", "--models", "+halving"), "model 'halving' (entry point 'broken'"),
    (("all", "--preset", "smoke", "--models", "halving"), "each written +NAME"),
]
"""Plugins that break their contract (tests/test_registry.py's ``BROKEN``), installed as a package:
each command that names one stops in one line before any work."""


@pytest.fixture(scope="module")
def broken_plugin(tmp_path_factory) -> str:
    """What installing the broken package puts on sys.path: its module and its dist-info."""
    from test_registry import BROKEN

    site = tmp_path_factory.mktemp("broken-site")
    (site / "broken_models.py").write_text(__import__("textwrap").dedent(BROKEN))
    dist_info = site / "broken_models-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-models\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[cunet_bench.models]\nbroken = broken_models:SPECS\nbroken-clash = broken_models:CLASH\n"
    )
    return str(site)


@pytest.mark.parametrize("args, fragment", PLUGIN_CASES, ids=[" ".join(a) for a, _ in PLUGIN_CASES])
def test_a_broken_plugin_is_one_line_before_any_work(broken_plugin, tmp_path, args, fragment):
    environment = {**os.environ, "PYTHONPATH": broken_plugin}
    for attempt in (args, (*args, "--dry-run")):
        done = subprocess.run(
            [sys.executable, "-m", "cunet_bench.cli", *attempt],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env=environment,
        )
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and fragment in lines[0], done.stderr[-2000:]
        assert lines[0].startswith("bench: error: ")
        if "contract" in lines[0] or "registered twice" in lines[0]:  # docs/plugins.md quotes it as it is
            assert lines[0] in (PACKAGE / "docs" / "plugins.md").read_text()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "environment, args, fragment",
    ENVIRONMENT_CASES,
    ids=[" ".join(f"{k}={v}" for k, v in e.items()) for e, _, _ in ENVIRONMENT_CASES],
)
def test_a_bad_environment_is_one_line_before_any_work(monkeypatch, capsys, tmp_path, environment, args, fragment):
    (tmp_path / "a-file").write_text("x")
    monkeypatch.chdir(tmp_path)
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(file=tmp_path / "a-file"))
    for attempt in (args, (*args, "--dry-run")):
        code, _, err = bench(monkeypatch, capsys, *attempt)
        assert code == 2 and err.count("\n") == 1 and fragment.format(file=tmp_path / "a-file") in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_an_unusable_cache_home_falls_back_to_the_harness_folder_under_tmp(monkeypatch, capsys, tmp_path):
    """A file where ``XDG_CACHE_HOME`` should be (or a read-only home) would fail the first import
    of torch's compiler inside a measurement: the harness compiles under the temporary folder."""
    from cunet_bench.host.compile_cache import CACHE_ENVIRONMENT, fallback_folder

    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    monkeypatch.delenv(CACHE_ENVIRONMENT, raising=False)
    code, _, err = bench(monkeypatch, capsys, "models", "unet")
    assert code == 0 and err == "" and os.environ[CACHE_ENVIRONMENT] == str(fallback_folder())


def test_a_folder_named_like_a_number_is_a_name_not_a_number(monkeypatch, capsys, tmp_path):
    """The number check reads option values that are numbers; a path of digits and '_' is a name."""
    monkeypatch.chdir(tmp_path)
    code, out, err = bench(monkeypatch, capsys, "efficiency", "--preset", "smoke", "--out", "2026_12_06", "--dry-run")
    assert code == 0 and err == "" and '"out": "2026_12_06"' in out


def test_a_forged_4_tib_checkpoint_is_refused_at_once(monkeypatch, capsys, files):
    """A sparse file whose header agrees with its 4 TiB size: refused from its size, never read."""
    started = time.perf_counter()
    code, _, err = bench(monkeypatch, capsys, "sample", "--checkpoint", str(files["sparse 4 TiB"]))
    assert code == 2 and "more than any file of the harness" in err and time.perf_counter() - started < 10


def test_a_batch_that_would_not_fit_in_memory_is_refused_before_any_sample(monkeypatch, capsys, files, tmp_path):
    """One 1,024-px image of the U-Net needs about 8 GiB (its full attention at 128×128): under a
    10 GiB limit that is refused in one line, before a sample is drawn or a file written."""
    from cunet_bench.host import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 10 * 2**30)
    code, _, err = bench(
        monkeypatch,
        capsys,
        "sample",
        "--checkpoint",
        str(files["1024 px"]),
        "--num-samples",
        "1",
        "--out",
        str(tmp_path / "s"),
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--batch-size 1 at 1024×1024 px needs about" in err and "the images are too large for this machine" in err
    assert not (tmp_path / "s").exists()


def _curve_rows(damage: str) -> tuple[str, list[dict]]:
    """Learning-curve rows of one model and seed (rungs 100, 200, 400), damaged one way."""
    import numpy as np

    from report_fixture import denoise, fid

    rng = np.random.default_rng(3)
    if damage == "ssim of 2.5":
        rows = [row for row in denoise(rng) if row["kind"] == "summary" and row["method"] == "unet"]
        rung = [
            {**row, "kind": "rung", "rung_step": 100, "images_seen": 3200, "train_cpu_seconds": 10.0} for row in rows
        ]
        rung = [{**row, "mean": 2.5} if row["metric"] == "ssim" else row for row in rung]
        return "denoise", rung
    (point,) = [row for row in fid(rng) if row["kind"] == "point"][:1]
    rungs = [
        {**point, "kind": "rung", "rung_step": step, "images_seen": 32 * step, "train_cpu_seconds": 10.0 * step}
        for step in (100, 200, 400)
    ]
    change = {
        "nan seconds at one rung": {1: {"train_cpu_seconds": float("nan")}},
        "negative rung step": {0: {"rung_step": -100}},
        "rung step beyond its images": {2: {"rung_step": 4_000_000}},
        "steps and images that disagree": {2: {"rung_step": 300}},
        "confident fraction of 7.5": {1: {"confident_fraction": 7.5}},
        "seconds that fall": {2: {"train_cpu_seconds": 1.0}},
    }.get(damage, {})
    for index, values in change.items():
        rungs[index].update(values)
    if damage == "duplicated rung":
        rungs.append(dict(rungs[1]))
    return "fid", rungs


CURVE_DAMAGES = {
    "nan seconds at one rung": "training CPU-seconds are missing at some rungs of a ladder only",
    "negative rung step": "rung step -100 is not a step",
    "rung step beyond its images": "rung step 4e+06 is not a step of a run that saw 12800 images",
    "steps and images that disagree": "rung steps 100, 200, 300 do not match the images seen at them",
    "confident fraction of 7.5": "confident_fraction 7.5 lies outside [0, 1]",
    "seconds that fall": "training CPU-seconds fall as the rung steps grow",
    "duplicated rung": "two rows for model unet, train_seed 0",
    "ssim of 2.5": "mean of ssim 2.5 lies outside [-1, 1]",
}


@pytest.mark.parametrize("damage", CURVE_DAMAGES, ids=list(CURVE_DAMAGES))
def test_a_quality_row_outside_its_bounds_is_skipped_by_the_report_and_refused_by_compare(
    monkeypatch, capsys, tmp_path, damage
):
    from report_fixture import write

    bench_name, rows = _curve_rows(damage)
    bad = write(bench_name, rows, tmp_path / "r", f"bench {bench_name}", preset="quick")
    code, _, err = bench(
        monkeypatch, capsys, "report", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--no-reference"
    )
    warnings = [line for line in err.splitlines() if line.startswith("bench: warning: skipped")]
    assert code == 0 and len(warnings) == 1 and bad.run_id in warnings[0] and CURVE_DAMAGES[damage] in err, err
    code, _, err = bench(monkeypatch, capsys, "compare", str(tmp_path / "r"), str(tmp_path / "r"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "do not fit the schema" in err, err


def test_a_curve_without_cpu_seconds_or_points_and_untrusted_recipe_values_still_report(monkeypatch, capsys, tmp_path):
    """Rung rows alone (no sweep points), a run that recorded no training CPU-seconds, and a
    training record whose recipe values are text: the report builds and says what is unrecorded."""
    from report_fixture import write

    _, rows = _curve_rows("none")
    write("fid", [{**row, "train_cpu_seconds": float("nan")} for row in rows], tmp_path / "r", "bench fid")
    config = {"model": "unet", "seed": 0, "min_snr_gamma": "nan", "lr_warmup": "x", "sigma": ["a", "b"], "lr": "y"}
    log = {"kind": "log", "model": "unet", "tags": "paper-unet;quality;backbone", "step": 1, "loss": 0.5}
    write("training", [log], tmp_path / "r", "bench train", config=config)
    code, _, err = bench(
        monkeypatch, capsys, "report", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--no-reference"
    )
    assert code == 0 and "Traceback" not in err and "warning: skipped" not in err, err
    text = (tmp_path / "o" / "REPORT.md").read_text()
    assert "min-SNR-unrecorded weighting" in text


def test_bench_models_lists_what_it_refused_and_the_rest_keeps_working(broken_plugin, tmp_path):
    """A clash and a broken contract do not break the listing: the usable models are listed, the
    refused ones at the end with why (bench models names a plugin's model only after probing it)."""
    done = subprocess.run(
        [sys.executable, "-m", "cunet_bench.cli", "models", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": broken_plugin},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout)
    listed = {row["name"] for row in rows if row["name"] != "refused"}
    refused = [row["description"] for row in rows if row["name"] == "refused"]
    assert {"unet", "blind", "non-blind"} <= listed and not {"dncnn", "halving", "too-many"} & listed
    assert any("model 'dncnn' is registered twice" in why for why in refused)
    assert any("model 'halving'" in why and "breaks the denoiser contract" in why for why in refused)
