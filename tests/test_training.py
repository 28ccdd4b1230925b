"""Training: exact resume, interruption, two gloo processes, checkpoint safety."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cunet_bench.diffusion.loading import build_model, diffusion_of, load_trained
from cunet_bench.diffusion.training import TrainConfig, TrainingRun
from cunet_bench.errors import UserError
from cunet_bench.records.checkpoints import read_checkpoint
from safetensors.torch import save_file

SMALL = dict(
    data="mnist5k",
    resolution=32,
    batch_size=8,
    lr=2e-4,
    grad_accumulation=1,
    ema_decay=0.9,
    schedule="sigmoid",
    objective="v",
    sigma=(0.1, 0.1),
    log_every=1,
    checkpoint_every=2,
)


def _config(model="cunet-release", steps=6, **changes):
    options = {"cunet-release": {"nf": 4}, "unet-ddpm": {"ch": 32, "attn_resolutions": (8,)}, "dncnn": {"depth": 4}}
    return TrainConfig(model=model, train_steps=steps, model_options=options[model], **{**SMALL, **changes})


def train(config, checkpoint, resume=False, pause_at=None):
    """Build the configuration's model and train it to the end; returns the finished session."""
    torch.manual_seed(config.seed)
    session = TrainingRun(
        config, build_model(config), diffusion_of(config), checkpoint, resume=resume, pause_at=pause_at
    )
    session.log = list(session.steps())
    return session


def _assert_same_checkpoint(a: Path, b: Path):
    first, second = read_checkpoint(a), read_checkpoint(b)
    assert first.step == second.step
    for part in ("model_state", "ema_state", "optimizer_state"):
        left, right = getattr(first, part), getattr(second, part)
        assert left.keys() == right.keys()
        for key in left:
            assert torch.equal(left[key], right[key]), (part, key)


def _relative_difference(left: dict, right: dict, suffix: str) -> float:
    keys = [k for k in left if k.endswith(suffix)]
    difference = torch.cat([(left[k] - right[k]).flatten() for k in keys]).norm()
    return float(difference / torch.cat([left[k].flatten() for k in keys]).norm())


@pytest.mark.parametrize("model", ["cunet-release", "unet-ddpm", "dncnn"])
def test_resume_is_bit_exact(tmp_path, model):
    """unet-ddpm has dropout, so this also checks the per-step reseeding of the global generator."""
    config = _config(model)
    train(config, tmp_path / "whole.safetensors")
    train(config, tmp_path / "parts.safetensors", pause_at=3)
    assert read_checkpoint(tmp_path / "parts.safetensors").step == 3
    result = train(config, tmp_path / "parts.safetensors", resume=True)
    assert result.resumed_from == 3 and result.steps_done == 6
    _assert_same_checkpoint(tmp_path / "whole.safetensors", tmp_path / "parts.safetensors")
    assert _bytes_but_time(tmp_path / "whole.safetensors") == _bytes_but_time(tmp_path / "parts.safetensors")


def _bytes_but_time(path: Path) -> bytes:
    """A checkpoint's bytes without the measured CPU-seconds and the run's identity (which two
    runs never share)."""
    from cunet_bench.records.checkpoints import read_safetensors, safetensors_bytes

    tensors, metadata = read_safetensors(path, "checkpoint")
    assert float(metadata.pop("cpu_seconds")) > 0 and len(metadata.pop("run_id")) == 16
    return safetensors_bytes(tensors, metadata)


def test_training_lowers_the_loss(tmp_path):
    result = train(_config(steps=30, lr=2e-3, objective="eps", schedule="linear"), tmp_path / "c.safetensors")
    assert [entry.step for entry in result.log] == list(range(1, 31))
    first, last = np.mean([e.loss for e in result.log[:5]]), np.mean([e.loss for e in result.log[-5:]])
    assert last < first


def _bench(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cunet_bench.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    common = [
        "train",
        "--model",
        "cunet-release",
        "--preset",
        "smoke",
        "--train-steps",
        "40",
        "--out",
        str(tmp_path / "r"),
    ]
    whole = _bench(*common, "--checkpoint", str(tmp_path / "whole.safetensors"))
    assert whole.wait(timeout=600) == 0, whole.stderr.read()
    target = tmp_path / "killed.safetensors"
    victim = _bench(*common, "--checkpoint", str(target))
    deadline = time.time() + 300
    while not target.exists() and time.time() < deadline:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    interrupted_at = read_checkpoint(target).step
    resumed = _bench(*common, "--checkpoint", str(target), "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert interrupted_at < 40 or victim.returncode == 0
    _assert_same_checkpoint(tmp_path / "whole.safetensors", target)


def test_a_second_writer_is_refused_and_sigterm_keeps_every_finished_step(tmp_path):
    target = tmp_path / "c.safetensors"
    common = [
        "train",
        "--model",
        "cunet-release",
        "--preset",
        "smoke",
        "--train-steps",
        "100000",
        "--checkpoint",
        str(target),
        "--out",
        str(tmp_path / "r"),
        "--threads",
        "1",
    ]
    first = _bench(*common)
    try:
        deadline = time.time() + 300
        while not target.exists() and time.time() < deadline:
            time.sleep(0.05)
        second = _bench(*common, "--seed", "2", "--resume")
        assert second.wait(timeout=300) == 2
        (line,) = second.stderr.read().strip().splitlines()
        assert line.startswith(f"bench: error: checkpoint {target} is in use by pid {first.pid} (")
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=300) == 143
    finally:
        first.kill()
    assert first.stderr.read().strip().splitlines()[-1].startswith("bench: stopped by SIGTERM;")
    saved = read_checkpoint(target)
    assert saved.step >= 2 and saved.config["seed"] == 0
    assert not Path(f"{target}.lock").exists()
    from cunet_bench.benchmarks.train import TrainRunConfig
    from cunet_bench.config.presets import get_preset

    same = TrainRunConfig.from_preset(get_preset("smoke"), model="cunet-release", train_steps=saved.step + 1).training
    assert train(same, target, resume=True).resumed_from == saved.step
    from cunet_bench.records import runs

    stopped = runs.load_runs("training", tmp_path / "r")
    final = stopped[stopped.kind == "final"]
    assert len(final) == 1 and bool(final.stopped.iloc[0]) and int(final.step.iloc[0]) == saved.step
    log = stopped[stopped.kind == "log"]
    assert int(log.step.max()) == saved.step  # the curve reaches the step it stopped at


def test_a_paused_run_keeps_its_ladder_and_resumes_to_the_uninterrupted_result(tmp_path):
    from cunet_bench.records import runs

    common = ["train", "--model", "dncnn", "--preset", "smoke", "--train-steps", "6", "--threads", "1"]
    whole = _bench(*common, "--checkpoint", str(tmp_path / "whole.safetensors"), "--out", str(tmp_path / "w"))
    assert whole.wait(timeout=600) == 0, whole.stderr.read()
    paused = tmp_path / "paused.safetensors"
    first = _bench(*common, "--checkpoint", str(paused), "--out", str(tmp_path / "p"), "--pause-at", "4")
    assert first.wait(timeout=600) == 0, first.stderr.read()
    assert read_checkpoint(paused).step == 4
    assert [rung.step for rung in read_checkpoint(paused).ladder] == [3]  # the ladder of 6 steps, not of 4
    final = runs.load_runs("training", tmp_path / "p")
    final = final[final.kind == "final"]
    assert int(final.step.iloc[0]) == 4 and bool(final.stopped.iloc[0])
    resumed = _bench(*common, "--checkpoint", str(paused), "--out", str(tmp_path / "p"), "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    _assert_same_checkpoint(tmp_path / "whole.safetensors", paused)
    assert [rung.step for rung in read_checkpoint(paused).ladder] == [3, 6]


def test_two_gloo_processes_match_one_process(tmp_path):
    """Same data, noise and averaged gradient as one process, up to reduction order. Compared on
    the first step's loss and Adam moments (0.1·g and 0.001·g²): the untrained cU-Net's 2×2
    instance norms amplify rounding, and Adam then turns near-zero gradients into full-size
    steps, so later weights would compare the numerics, not the distribution of the work."""
    common = [
        "train",
        "--model",
        "cunet-release",
        "--preset",
        "smoke",
        "--train-steps",
        "1",
        "--out",
        str(tmp_path / "r"),
    ]
    single = _bench(*common, "--checkpoint", str(tmp_path / "one.safetensors"))
    assert single.wait(timeout=600) == 0, single.stderr.read()
    environment = {**os.environ, "MASTER_ADDR": "127.0.0.1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-port",
            "29517",
            "-m",
            "cunet_bench.cli",
            *common,
            "--checkpoint",
            str(tmp_path / "two.safetensors"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    one, two = read_checkpoint(tmp_path / "one.safetensors"), read_checkpoint(tmp_path / "two.safetensors")
    assert one.step == two.step == 1
    assert _relative_difference(one.optimizer_state, two.optimizer_state, "exp_avg") < 1e-2
    assert _relative_difference(one.optimizer_state, two.optimizer_state, "exp_avg_sq") < 1e-3
    from cunet_bench.records import runs

    rows = runs.load_runs("training", tmp_path / "r")
    losses = rows[rows.kind == "log"].groupby("processes").loss.first()
    assert losses[2] == pytest.approx(losses[1], rel=1e-4)


def test_checkpoint_loading_refuses_bad_files(tmp_path):
    config = _config(steps=2)
    path = tmp_path / "good.safetensors"
    train(config, path)
    model, loaded_config, step = load_trained(path, "cunet-release")
    assert step == 2 and loaded_config == config
    with pytest.raises(UserError, match="holds model 'cunet-release', not 'unet'"):
        load_trained(path, "unet")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UserError, match="not a readable safetensors file"):
        load_trained(truncated)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(2)}, str(foreign))
    with pytest.raises(UserError, match="not written by cunet-bench"):
        load_trained(foreign)
    with pytest.raises(UserError, match="does not exist"):
        load_trained(tmp_path / "missing.safetensors")


def test_checkpoint_of_another_size_does_not_load(tmp_path):
    path = tmp_path / "c.safetensors"
    train(_config(steps=1), path)
    saved = read_checkpoint(path)
    from cunet_bench.records.checkpoints import load_state
    from cunet_bench.registry.suite import build_model

    with pytest.raises(UserError, match="does not match the model cunet-release: .* of another shape"):
        load_state(build_model("cunet-release", channels=1, nf=8), saved.model_state, path, "model cunet-release")


def test_resume_with_other_options_is_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    train(_config(steps=2), path)
    with pytest.raises(UserError, match=r"other training options \(lr\)"):
        train(_config(steps=4, lr=1e-2), path, resume=True)
    assert train(_config(steps=3), path, resume=True).steps_done == 3


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (dict(steps=0), "train-steps must be an integer from 1"),
        (dict(steps=10**30), "train-steps must be an integer from 1"),
        (dict(batch_size=0), "batch-size must be an integer from 1"),
        (dict(timesteps=10**12), "timesteps must be an integer from 1"),
        (dict(lr=0.0), "learning rate"),
        (dict(lr=float("inf")), "learning rate"),
        (dict(seed=-1), "--seed must be an integer from 0"),
        (dict(seed=2**64), "--seed must be an integer from 0"),
        (dict(adam_betas=(0.9, 1.5)), "Adam betas"),
        (dict(sigma=(0.3, 0.1)), "--sigma needs 0 < LOW <= HIGH <= 1"),
        (dict(sigma=(0.1, float("inf"))), "--sigma needs"),
        (dict(sigma=(5.0, 5.0)), "--sigma needs"),
        (dict(schedule="quadratic"), "schedule"),
        (dict(data="imagenet"), "unknown dataset"),
        (dict(lr_warmup=-1), "lr-warmup must be a whole number"),
        (dict(lr_warmup=6, lr_decay="cosine"), "leaves nothing to decay"),
        (dict(lr_decay="step"), "unknown lr-decay 'step'"),
        (dict(min_snr_gamma=-1.0), "min-snr-gamma must be 0"),
        (dict(min_snr_gamma=float("nan")), "min-snr-gamma must be 0"),
        (dict(rungs=0), "rungs must be an integer from 1 to 30"),
        (dict(rungs=31), "rungs must be an integer from 1 to 30"),
        (dict(ema_warmup_power=-0.5), "ema-warmup-power must be 0"),
        (dict(ema_warmup_power=float("inf")), "ema-warmup-power must be 0"),
        (dict(ema_warmup_power=True), "ema-warmup-power must be 0"),
    ],
)
def test_bad_training_configuration(changes, fragment):
    with pytest.raises(UserError, match=fragment):
        _config(**changes).validate()


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (dict(model="bm3d"), "nothing to train"),
        (dict(resolution=30), "divisible by 16"),
        (dict(resolution=0), "whole number of pixels from 1"),
        (dict(model_options={"nf": -8}), "option nf must be whole numbers from 1 to 4096"),
        (dict(model_options={"nf": 2**40}), "option nf must be whole numbers"),
    ],
)
def test_bad_training_run(changes, fragment):
    from dataclasses import replace

    from cunet_bench.benchmarks.train import TrainRunConfig
    from cunet_bench.config.presets import get_preset

    config = TrainRunConfig.from_preset(get_preset("smoke"), model="cunet-release")
    with pytest.raises(UserError, match=fragment):
        replace(config, **changes).validate()


def test_rungs_double_up_to_the_last_step():
    from cunet_bench.records.ladder import ladder_steps

    def rung_steps(config):
        return ladder_steps(config.train_steps, config.rungs)

    assert rung_steps(_config(steps=1800, rungs=4)) == (225, 450, 900, 1800)
    assert rung_steps(_config(steps=300, rungs=3)) == (75, 150, 300)
    assert rung_steps(_config(steps=3, rungs=2)) == (1, 3)
    assert rung_steps(_config(steps=8, rungs=4)) == (1, 2, 4, 8)
    assert rung_steps(_config(steps=5, rungs=1)) == (5,)
    assert rung_steps(_config(steps=2, rungs=4)) == (1, 2)  # a short run keeps the rungs that fall on a step


def test_learning_rate_schedule_closed_form():
    from cunet_bench.diffusion.training import learning_rate

    warm = _config(steps=110, lr=1.0, lr_warmup=10, lr_decay="cosine")
    assert [learning_rate(warm, s) for s in range(10)] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert learning_rate(warm, 10) == 1.0
    assert learning_rate(warm, 60) == pytest.approx(0.5)
    assert learning_rate(warm, 109) == pytest.approx(0.5 * (1 + np.cos(np.pi * 99 / 100)))
    linear = _config(steps=100, lr=2.0, lr_decay="linear")
    assert [learning_rate(linear, s) for s in (0, 25, 99)] == pytest.approx([2.0, 1.5, 0.02])
    constant = _config(steps=100, lr=3.0, lr_warmup=4)
    assert [learning_rate(constant, s) for s in (0, 3, 4, 99)] == pytest.approx([0.75, 3.0, 3.0, 3.0])


def test_ema_decay_warm_up_closed_form():
    """Without a warm-up the decay is constant; with power p it is 1 - (1 + n)^-p after n steps,
    capped at --ema-decay (p = 1: 1 - 1/(n + 1), the running mean of the weights so far)."""
    from cunet_bench.diffusion.training import ema_decay_after

    assert [ema_decay_after(_config(ema_decay=0.9), n) for n in (1, 1000)] == [0.9, 0.9]
    mean = _config(ema_decay=0.99, ema_warmup_power=1.0)
    assert [ema_decay_after(mean, n) for n in (1, 3, 99, 500)] == pytest.approx([0.5, 0.75, 0.99, 0.99])
    two_thirds = _config(ema_decay=0.9999, ema_warmup_power=2 / 3)
    assert ema_decay_after(two_thirds, 7) == pytest.approx(0.75)  # 8^(-2/3) = 1/4


def test_training_averages_with_the_warmed_up_decay(tmp_path):
    """One step with a warm-up of power 1 averages with decay 1/2, as a constant decay of 1/2 does."""
    from cunet_bench.records.checkpoints import read_safetensors

    def weights(name, **changes):
        train(_config(steps=1, **changes), tmp_path / name)
        return read_safetensors(tmp_path / name, "checkpoint")[0]

    warmed, half, constant = (
        weights("w.safetensors", ema_decay=0.99, ema_warmup_power=1.0),
        weights("h.safetensors", ema_decay=0.5),
        weights("c.safetensors", ema_decay=0.99),
    )
    assert all(torch.equal(warmed[key], half[key]) for key in warmed)
    assert not all(torch.equal(warmed[key], constant[key]) for key in warmed)


@pytest.mark.parametrize("objective, divisor", [("eps", lambda snr: snr), ("v", lambda snr: snr + 1), ("x0", None)])
def test_min_snr_weights_closed_form(objective, divisor):
    from cunet_bench.diffusion.process import DiffusionConfig, GaussianDiffusion
    from cunet_bench.diffusion.training import loss_on_batch, loss_weights

    diffusion = GaussianDiffusion(DiffusionConfig("linear", objective, 1000))
    t = torch.tensor([0, 100, 400, 999])
    alpha_bar = diffusion.alpha_bar[t]
    snr = alpha_bar / (1 - alpha_bar)
    expected = torch.minimum(snr, torch.tensor(5.0, dtype=torch.float64))
    expected = expected / divisor(snr) if divisor else expected
    weights = loss_weights(diffusion, t, 5.0, torch.zeros(4, dtype=torch.float64))
    assert torch.allclose(weights, expected, rtol=1e-12)
    assert weights[0] < weights[-1] if objective == "eps" else weights[-1] < 1
    images, noise = torch.rand(4, 1, 8, 8) * 2 - 1, torch.randn(4, 1, 8, 8)

    def model(x, steps):
        return x * 0.5

    per_image = (model(diffusion.q_sample(images, t, noise), t) - diffusion.training_target(images, noise, t)) ** 2
    weighted = (expected.float() * per_image.flatten(1).mean(1)).mean()
    loss = loss_on_batch(model, diffusion, images, noise, t, torch.zeros(4), min_snr_gamma=5.0)
    assert float(loss) == pytest.approx(float(weighted), rel=1e-6)
    assert float(loss_on_batch(model, diffusion, images, noise, t, torch.zeros(4))) == pytest.approx(
        float(per_image.mean()), rel=1e-6
    )


def test_a_rung_is_the_shorter_run_and_records_its_cpu_seconds(tmp_path):
    """With a constant learning rate the ladder's rung at step 3 holds exactly what a 3-step run
    ends with; every rung records its step and a growing CPU time."""
    from cunet_bench.records.ladder import rung_path

    path = tmp_path / "c.safetensors"
    train(_config(steps=6, rungs=2, min_snr_gamma=5.0), path)
    rungs = [read_checkpoint(rung_path(path, step)) for step in (3, 6)]
    assert [rung.step for rung in rungs] == [3, 6]
    assert 0 < rungs[0].cpu_seconds < rungs[1].cpu_seconds == read_checkpoint(path).cpu_seconds
    train(_config(steps=3, min_snr_gamma=5.0), tmp_path / "short.safetensors")
    _assert_same_checkpoint(rung_path(path, 3), tmp_path / "short.safetensors")
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == [
        "c.safetensors",
        "c.step0000003.safetensors",
        "c.step0000006.safetensors",
        "short.safetensors",
    ]


def test_a_measurement_may_read_only_the_highest_rungs(tmp_path):
    """``read_ladder(checkpoint, highest)``: the top ``highest`` rungs, the checkpoint among them
    (2: the last doubling); more than the ladder holds is all of it."""
    from cunet_bench.records.ladder import read_ladder as ladder

    path = tmp_path / "c.safetensors"
    train(_config(steps=8, rungs=3), path)
    assert [(rung.step, rung.path.name) for rung in ladder(path)] == [
        (2, "c.step0000002.safetensors"),
        (4, "c.step0000004.safetensors"),
        (8, "c.safetensors"),
    ]
    assert [[rung.step for rung in ladder(path, highest)] for highest in (2, 1, 5)] == [[4, 8], [8], [2, 4, 8]]
    (tmp_path / "c.step0000002.safetensors").unlink()
    assert [rung.step for rung in ladder(path, 2)] == [4, 8]  # a rung not measured is not read


def test_a_decaying_run_keeps_its_length_and_an_old_checkpoint_reads_as_the_release_recipe(tmp_path):
    import json

    from cunet_bench.records.checkpoints import read_safetensors, write_safetensors

    path = tmp_path / "c.safetensors"
    train(_config(steps=4, lr_warmup=1, lr_decay="linear"), path, pause_at=2)
    with pytest.raises(UserError, match=r"other training options \(train_steps\)"):
        train(_config(steps=8, lr_warmup=1, lr_decay="linear"), path, resume=True)
    assert train(_config(steps=4, lr_warmup=1, lr_decay="linear"), path, resume=True).steps_done == 4
    old = tmp_path / "old.safetensors"
    train(_config(steps=2), old)
    tensors, metadata = read_safetensors(old, "checkpoint")
    config = json.loads(metadata["config"])
    for name in ("lr_warmup", "lr_decay", "min_snr_gamma", "rungs", "ema_warmup_power", "checkpoint_minutes"):
        del config[name]
    del metadata["cpu_seconds"]
    for name in ("run_id", "role", "images_seen", "ladder"):
        del metadata[name]
    write_safetensors(old, tensors, {**metadata, "config": json.dumps(config)}, replaces=lambda path: True)
    recorded = TrainConfig.from_record(read_checkpoint(old).config, old)
    assert (recorded.lr_warmup, recorded.lr_decay, recorded.min_snr_gamma, recorded.rungs) == (0, "constant", 0.0, 1)
    assert recorded.ema_warmup_power == 0.0
    session = train(_config(steps=3), old, resume=True)
    assert session.steps_done == 3 and session.cpu_seconds is None and read_checkpoint(old).cpu_seconds is None


def _as_written_before_run_ids(path: Path) -> None:
    """Rewrite a checkpoint or rung as the harness wrote it before runs had an identity."""
    from cunet_bench.records.checkpoints import read_safetensors, write_safetensors

    tensors, metadata = read_safetensors(path, "checkpoint")
    for name in ("run_id", "role", "images_seen", "ladder"):
        metadata.pop(name, None)
    write_safetensors(path, tensors, metadata, replaces=lambda existing: True)


def test_a_ladder_written_before_run_ids_is_adopted_when_its_run_resumes(tmp_path):
    """Such a ladder is not read (nothing ties its rungs to the run); resuming the run checks each
    rung as before and records its digest, and the ladder reads from then on."""
    from cunet_bench.records.ladder import read_ladder, rung_path

    path = tmp_path / "c.safetensors"
    train(_config(steps=4, rungs=2), path)
    for file in (path, rung_path(path, 2), rung_path(path, 4)):
        _as_written_before_run_ids(file)
    with pytest.raises(UserError, match="written before rungs were tied to their run; resume it once"):
        read_ladder(path)
    train(_config(steps=8, rungs=3), path, resume=True)
    assert [rung.step for rung in read_ladder(path)] == [2, 4, 8]
    assert read_checkpoint(path).run_id == read_checkpoint(rung_path(path, 8)).run_id


def test_a_run_is_measured_where_it_stood_at_a_rung_of_its_ladder(tmp_path):
    """``at_step``: a completed doubling of a run still training stands in for its checkpoint."""
    from cunet_bench.records.ladder import ladder_files, read_ladder, rung_path

    path = tmp_path / "c.safetensors"
    train(_config(steps=8, rungs=4), path)
    assert [(r.step, r.path.name) for r in read_ladder(path, at_step=4)] == [
        (1, "c.step0000001.safetensors"),
        (2, "c.step0000002.safetensors"),
        (4, "c.step0000004.safetensors"),
    ]
    assert [r.step for r in read_ladder(path, 2, at_step=4)] == [2, 4]
    assert ladder_files(path, 1, at_step=4) == [rung_path(path, 4)]
    with pytest.raises(UserError, match=r"keeps no rung at step 3 \(its rungs below step 8: 1, 2, 4\)"):
        read_ladder(path, at_step=3)
