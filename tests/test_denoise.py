"""bench denoise: protocol arithmetic, best-step bookkeeping, bad input, end to end on smoke."""

import json
import math
import subprocess
import sys

import pytest
import torch
from cunet_bench.benchmarks.denoise import DenoiseConfig, measure
from cunet_bench.benchmarks.denoise_methods import Method
from cunet_bench.diffusion.process import DiffusionConfig, GaussianDiffusion
from cunet_bench.errors import UserError


def _config(**changes):
    base = dict(
        noise_steps=(100,),
        num_images=3,
        resolution=16,
        classifier_steps=1,
        data="mnist5k",
        checkpoint_preset="smoke",
        train_seeds=(0,),
    )
    return DenoiseConfig(**{**base, **changes})


class Oracle(torch.nn.Module):
    """Predicts the true noise of x_t given the clean images (ε-objective): a perfect denoiser."""

    def __init__(self, diffusion, clean):
        super().__init__()
        self.diffusion, self.clean = diffusion, clean

    def forward(self, x, t):
        return self.diffusion.eps_from_x0(x, t, self.clean)


class Identity:
    def __init__(self):
        self.seen = []

    def denoise(self, y, sigma):
        self.seen.append((y.clone(), sigma))
        return y


def test_baselines_see_the_rescaled_noisy_image_and_sigma():
    diffusion = GaussianDiffusion(DiffusionConfig("linear", "eps"))
    clean = torch.rand(3, 1, 16, 16) * 2 - 1
    identity = Identity()
    rows = list(
        measure(_config(), [Method("oracle", Oracle(diffusion, clean), diffusion), Method("id", identity)], clean)
    )
    ((y01, sigma01),) = identity.seen
    alpha_bar = diffusion.alpha_bar[99].item()
    assert sigma01 == pytest.approx(math.sqrt((1 - alpha_bar) / alpha_bar) / 2)
    noise_part = (y01 * 2 - 1) - clean  # y = x0 + σ ε in [-1, 1] units
    assert noise_part.std().item() == pytest.approx(2 * sigma01, rel=0.25)
    summary = {(r["method"], r["target"], r["metric"]): r for r in rows if r["kind"] == "summary"}
    assert summary[("oracle", "x0", "psnr")]["mean"] > 80  # the oracle's x0 estimate is exact
    assert summary[("oracle", "iterate", "ssim")]["best_step_mean"] == 100
    assert summary[("id", "output", "psnr")]["mean"] == pytest.approx(summary[("noisy input", "input", "psnr")]["mean"])
    assert summary[("oracle", "x0", "lpips")]["status"] == "weights not installed"
    curves = [
        r
        for r in rows
        if r["kind"] == "curve" and r["method"] == "oracle" and r["target"] == "iterate" and r["metric"] == "psnr"
    ]
    assert [r["step"] for r in curves] == list(range(1, 101))


def test_same_seed_gives_identical_numbers():
    diffusion = GaussianDiffusion(DiffusionConfig("cosine", "eps"))
    clean = torch.rand(2, 1, 16, 16) * 2 - 1
    model = lambda x, t: 0.5 * x
    run = lambda: [
        r["mean"]
        for r in measure(_config(noise_steps=(10,), num_images=2, seed=3), [Method("m", model, diffusion)], clean)
        if r["kind"] == "summary"
    ]
    assert run() == run()


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (dict(noise_steps=(0,)), "integers in 1"),
        (dict(noise_steps=(1001,)), "integers in 1 … 1,000"),
        (dict(noise_steps=(50.5,)), "integers"),
        (dict(noise_steps=(50, 50)), "distinct"),
        (dict(protocol="release", pixel_noise=(0.5,)), "among"),
        (dict(protocol="blind"), "unknown protocol"),
    ],
)
def test_bad_noise_levels(changes, fragment):
    with pytest.raises(UserError, match=fragment):
        _config(**changes).levels(1000)


def test_the_last_forward_step_t_is_a_noise_level():
    """n = T noises to x_T (index T − 1) and the chain runs all T reverse steps."""
    diffusion = GaussianDiffusion(DiffusionConfig("cosine", "eps", timesteps=100))
    config = _config(noise_steps=(100,), num_images=2, seed=3)
    assert [level.noise_step for level in config.levels(100)] == [100]
    rows = list(measure(config, [Method("m", lambda x, t: 0.5 * x, diffusion)], torch.rand(2, 1, 16, 16) * 2 - 1))
    (chain,) = [row for row in rows if row["kind"] == "chain"]
    assert chain["steps"] == 100 and chain["noise_step"] == 100


def test_denoise_cli_smoke(tmp_path):
    bench = [sys.executable, "-m", "cunet_bench.cli"]
    for model in ("cunet-release", "dncnn"):
        done = subprocess.run(
            [
                *bench,
                "train",
                "--model",
                model,
                "--preset",
                "smoke",
                "--checkpoint",
                str(tmp_path / f"{model}-mnist5k-smoke-seed0.safetensors"),
                "--out",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [
            *bench,
            "denoise",
            "--noise-steps",
            "3,7",
            "--models",
            "cunet-release,dncnn",
            "--preset",
            "smoke",
            "--checkpoints",
            str(tmp_path),
            "--num-images",
            "4",
            "--out",
            str(tmp_path),
            "--format",
            "json",
            "--solver",
            "rk4",
            "--solver",
            "euler:steps=2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    methods = {row["method"] for row in json.loads(done.stdout) if row["kind"] == "summary"}
    assert methods == {"noisy input", "cunet-release[rk4:steps=1]", "cunet-release[euler:steps=2]", "dncnn"}
    from cunet_bench.records import runs

    recorded = runs.load_runs("denoise", tmp_path)
    points = recorded[recorded.kind == "perception"]
    assert len(points) == 2 * 4 and set(points.metric) == {"FD-classifier"}
    assert points["mean"].isna().all() and points.status.str.contains("KID only").all()  # 4 images in 64 dimensions
    assert points.kid_mean.notna().all() and set(points.reference) == {"mnist5k training split, 4,500 images"}
    assert points.ssim_final.between(-1, 1).all()
    chains = recorded[recorded.kind == "chain"]
    assert len(chains) == 2 * 2 and (chains.seconds > 0).all() and set(chains.steps) == {3, 7}
    meta = recorded[recorded.kind == "meta"].iloc[0]
    assert 0 < meta.metric_fraction < 1
    grids = recorded[recorded.kind == "grid"]
    assert len(grids) == 2 * 5  # per level: the methods grid, the iterate and x0 grids of each cU-Net solver
    for grid in grids.itertuples():
        assert (tmp_path / "denoise-grids" / grid.file).is_file() and grid.columns.split("|")[:2] == ["clean", "noisy"]
    described = recorded[recorded.kind == "method"].set_index("method")
    assert described.loc["dncnn", "paper_name"] == "DnCNN" and described.loc["dncnn", "parameters"] > 0
    assert described.loc["dncnn", "sigma"] == "0.1" and json.loads(described.loc["dncnn", "options"]) == {
        "depth": 5,
        "width": 16,
    }
    missing = subprocess.run(
        [*bench, "denoise", "--models", "unet", "--preset", "smoke", "--checkpoints", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert missing.returncode == 2
    assert "bench train --model unet --data mnist5k --preset smoke" in missing.stderr.strip().splitlines()[-1]
    too_many = subprocess.run(
        [
            *bench,
            "denoise",
            "--models",
            "dncnn",
            "--preset",
            "smoke",
            "--checkpoints",
            str(tmp_path),
            "--num-images",
            "501",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert too_many.returncode == 2 and "--num-images must be between 1 and 500" in too_many.stderr


def test_release_protocol_adds_pixel_noise_and_runs_the_documented_steps():
    diffusion = GaussianDiffusion(DiffusionConfig("linear", "eps"))
    clean = torch.rand(2, 1, 16, 16) * 2 - 1
    identity = Identity()
    rows = list(
        measure(
            _config(pixel_noise=(0.04,), protocol="release", num_images=2),
            [Method("m", lambda x, t: torch.zeros_like(x), diffusion), Method("id", identity)],
            clean,
        )
    )
    ((y01, sigma01),) = identity.seen
    assert sigma01 == 0.04
    assert ((y01 - (clean + 1) / 2).std().item()) == pytest.approx(0.04, rel=0.25)
    steps = sorted({r["step"] for r in rows if r["kind"] == "curve" and r["method"] == "m"})
    assert steps == [1, 2, 3, 4]


def test_perception_is_measured_against_clean_images_the_outputs_did_not_come_from():
    from cunet_bench.benchmarks.denoise import _Perception
    from cunet_bench.measure.distribution import gaussian_stats
    from cunet_bench.measure.features import FeatureExtractor
    from cunet_bench.measure.reference_stats import ReferenceFeatures

    extractor = FeatureExtractor(
        "test", "flat", "FD-test", "KD-test", 16, torch.nn.Flatten(), lambda x: x, "cpu", "pixels"
    )
    generator = torch.Generator().manual_seed(0)
    other = torch.rand(400, 1, 4, 4, generator=generator)  # the same distribution, other images
    features = extractor(other * 2 - 1)
    reference = ReferenceFeatures(gaussian_stats(features), features.astype("float32"), "400 other images")
    clean01 = torch.rand(40, 1, 4, 4, generator=generator)
    perception = _Perception(extractor, reference, clean01, seed=0)
    same = perception.point(clean01, {"ssim": torch.ones(40), "psnr": torch.full((40,), 99.0)})
    assert 0 < same["mean"] < 1 and same["mse_final"] == 0.0 and same["reference"] == "400 other images"
    noisy = perception.point(
        (clean01 + 0.3 * torch.randn_like(clean01)).clamp(0, 1), {"ssim": torch.ones(40), "psnr": torch.ones(40)}
    )
    assert noisy["mean"] > same["mean"] + 0.2 and noisy["kid_mean"] > same["kid_mean"]
    few = _Perception(extractor, reference, clean01[:10], seed=0).point(
        clean01[:10], {"ssim": torch.ones(10), "psnr": torch.ones(10)}
    )
    assert few["mean"] is None and "KID only" in few["status"] and few["kid_mean"] is not None


def test_a_process_pool_is_timed_against_one_process():
    from cunet_bench.benchmarks.denoise import _pool_speedup

    class Pooled(Identity):
        workers = 2

    row = _pool_speedup(Method("pooled", Pooled()), torch.rand(3, 1, 8, 8), 0.1, pooled_per_image=0.5)
    assert row["kind"] == "speedup" and row["workers"] == 2 and row["images"] == 3
    assert row["mean"] == pytest.approx(row["seconds_per_image_one_process"] / 0.5)


def test_test_images_cover_every_digit():
    from cunet_bench.benchmarks.denoise_methods import test_image_indices
    from cunet_bench.data import load_dataset

    test = load_dataset("mnist5k", "test", 32)
    indices = test_image_indices(len(test), 64)
    assert len(set(indices)) == 64 and indices[0] == 0 and indices[-1] == len(test) - 1
    assert {int(test.labels[i]) for i in indices} == set(range(10))
    assert test_image_indices(len(test), 1) == [0]


def test_noise_steps_are_refused_by_their_one_check_before_any_model_loads(tmp_path, monkeypatch):
    """``DenoiseConfig.levels`` is where a bad --noise-steps is refused, for the command as for
    its dry run; the command never gets to build a model."""
    from cunet_bench.benchmarks import denoise
    from cunet_bench.cli.app import app
    from cunet_bench.errors import UserError

    refusals = []
    checked = denoise.DenoiseConfig.levels

    def levels(self, timesteps=None):
        try:
            return checked(self, timesteps)
        except UserError as error:
            refusals.append(str(error))
            raise

    monkeypatch.setattr(denoise.DenoiseConfig, "levels", levels)
    monkeypatch.setattr(denoise, "build_methods", lambda config: pytest.fail("a model was loaded"))
    bad = ("0", "-5", "3,0", "100001")
    for steps in bad:
        with pytest.raises(UserError, match="--noise-steps must be integers in 1"):
            app(
                [
                    "denoise",
                    "--preset",
                    "smoke",
                    f"--noise-steps={steps}",
                    "--out",
                    str(tmp_path / "r"),
                    "--checkpoints",
                    str(tmp_path / "c"),
                ],
                prog_name="bench",
                standalone_mode=False,
            )
    assert len(refusals) == len(bad)
