"""bench fid: the distances against closed forms, shards that resume, two processes, bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from cunet_bench.benchmarks.fid import FidConfig, generate_shards, load_backbones, read_shards, small_sample_notice
from cunet_bench.errors import BenchWarning, UserError
from cunet_bench.measure.distribution import GaussianStats, frechet_distance, gaussian_stats, kernel_distance
from cunet_bench.measure.features import InceptionPool, _to_inception_input, inception_network

BENCH = [sys.executable, "-m", "cunet_bench.cli"]
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}


def test_frechet_distance_of_a_set_with_itself_is_zero():
    features = np.random.default_rng(0).normal(size=(500, 8))
    stats = gaussian_stats(features)
    assert frechet_distance(stats, stats) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_between_gaussians_matches_the_closed_form():
    """Diagonal covariances: ‖μa−μb‖² + Σ(σa² + σb² − 2σaσb)."""
    mean_a, mean_b = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 0.25])
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum(var_a + var_b - 2 * np.sqrt(var_a * var_b))
    a, b = GaussianStats(mean_a, np.diag(var_a), 10), GaussianStats(mean_b, np.diag(var_b), 10)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    rng = np.random.default_rng(1)
    sampled_a = rng.normal(mean_a, np.sqrt(var_a), size=(200_000, 3))
    sampled_b = rng.normal(mean_b, np.sqrt(var_b), size=(200_000, 3))
    assert frechet_distance(gaussian_stats(sampled_a), gaussian_stats(sampled_b)) == pytest.approx(expected, rel=0.02)


def test_kernel_distance_is_unbiased_near_zero_and_grows_with_a_shift():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same, spread = kernel_distance(a, b, subsets=50, subset_size=200)
    assert abs(same) < 3 * spread + 1e-3
    shifted, _ = kernel_distance(a, b + 1.0, subsets=50, subset_size=200)
    assert shifted > 10 * max(abs(same), spread)


def test_inception_code_path_with_random_weights():
    network = InceptionPool(inception_network(64, random_weights=True))
    features = network(_to_inception_input(torch.rand(2, 1, 32, 32) * 2 - 1))
    assert features.shape == (2, 64, 1, 1)
    with pytest.raises(UserError, match="--dims must be one of"):
        inception_network(100, random_weights=True)


def _config(**changes):
    base = dict(
        models=("unet",),
        sampling_steps=(5,),
        num_samples=100,
        batch_size=64,
        classifier_steps=5,
        replicates=20,
        speed_rounds=2,
        speed_budget_s=1.0,
        data="mnist5k",
        checkpoint_preset="smoke",
        train_seeds=(0,),
    )
    return FidConfig(**{**base, **changes})


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"sampling_steps": (0,)}, "between 1 and 100,000"),
        ({"sampler": "euler"}, "unknown sampler"),
        ({"num_samples": 1}, "between 2 and 1,000,000"),
        ({"num_samples": 64}, "not above the feature dimension 64"),
        ({"sampling_steps": (5, 5)}, "duplicated"),
        ({"models": ()}, "at least one trained backbone"),
        ({"features": "inception"}, "needs the Inception weights"),
        ({"batch_size": 0}, "between 1 and"),
        ({"train_seeds": (0, 0)}, "distinct"),
        ({"train_seeds": (-1,)}, "--seed must be an integer"),
    ],
)
def test_bad_fid_configuration(changes, fragment):
    with pytest.raises(UserError, match=fragment):
        _config(**changes).validate()


def test_small_n_is_warned_about():
    notice = small_sample_notice(_config())
    assert "N = 100" in notice and "30,000" in notice
    assert small_sample_notice(_config(num_samples=30_000)) is None


@pytest.fixture(scope="module")
def smoke_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    for model in ("unet", "cunet-release", "cunet"):
        done = subprocess.run(
            [
                *BENCH,
                "train",
                "--model",
                model,
                "--preset",
                "smoke",
                "--checkpoint",
                str(folder / f"{model}-mnist5k-smoke-seed0.safetensors"),
                "--out",
                str(folder / "r"),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
    return folder


def test_interrupted_sampling_resumes_to_the_same_images(smoke_checkpoints, tmp_path):
    config = _config(
        models=("cunet",), sampling_steps=(2,), num_samples=10, batch_size=4, seed=5, checkpoints=str(smoke_checkpoints)
    )
    (backbone,) = load_backbones(config)

    def stop_after_first_shard(_message, done=None, total=None):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_shards(backbone, config, 2, tmp_path / "resumed", progress=stop_after_first_shard)
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["shard-00000.npz"]
    assert generate_shards(backbone, config, 2, tmp_path / "resumed") == 2
    assert generate_shards(backbone, config, 2, tmp_path / "resumed") == 0
    generate_shards(backbone, config, 2, tmp_path / "whole")
    shards = read_shards(tmp_path / "resumed", config, backbone.shape)
    resumed = torch.cat([shard.images for shard in shards])
    whole = torch.cat([shard.images for shard in read_shards(tmp_path / "whole", config, backbone.shape)])
    assert resumed.shape == (10, 1, 32, 32) and all(shard.seconds > 0 and shard.device == "cpu" for shard in shards)
    assert all(shard.other_cores >= 0 and shard.contended in (True, False) for shard in shards)
    assert torch.equal(resumed, whole)
    assert resumed.min() >= -1 and resumed.max() <= 1


def _fid_json(checkpoints, out, *launcher):
    command = [
        *launcher,
        "fid",
        "--preset",
        "smoke",
        "--checkpoints",
        str(checkpoints),
        "--out",
        str(out),
        "--format",
        "json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=ONE_THREAD)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_cli_end_to_end_and_two_processes_match_one(smoke_checkpoints, tmp_path):
    single = json.loads(_fid_json(smoke_checkpoints, tmp_path / "one", *BENCH).stdout)
    points = [row for row in single if row["kind"] == "point"]
    models = ("unet", "cunet-release", "cunet")
    assert {(row["model"], row["sampling_steps"]) for row in points} == {(m, s) for m in models for s in (1, 2)}
    assert all(row["distance_name"] == "FD-classifier" and row["samples"] == 72 for row in points)
    (real,) = [row for row in single if row["kind"] == "real"]
    assert real["images"] == 500 and 0 <= real["confident_fraction"] <= 1  # a 20-step classifier in smoke
    assert 0 < real["class_entropy"] <= 1  # 500 test digits are not all one class
    assert all(
        row["distance_ci_low"] <= row["distance"] + 1e-9
        and 0 <= row["confident_fraction"] <= 1
        and 0 <= row["class_entropy"] <= 1
        and row["train_seed"] == 0
        and row["parameters"] > 0
        for row in points
    )
    assert {row["model"] for row in single if row["kind"] == "best"} == set(models)
    replicates = [row for row in single if row["kind"] == "best_replicate"]
    assert len(replicates) == 3 * 50  # the smoke preset's resamples
    timed = [row for row in single if row["kind"] == "sample_time"]
    assert {row["model"] for row in timed} == set(models) and all(row["seconds_per_sample"] > 0 for row in timed)
    shards = sorted((smoke_checkpoints / "fid-samples").rglob("*.npz"))
    first_images = {path.relative_to(smoke_checkpoints): np.load(path)["images"] for path in shards}
    for path in shards:
        path.unlink()
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29531",
        "-m",
        "cunet_bench.cli",
    ]
    _fid_json(smoke_checkpoints, tmp_path / "two", *launcher)
    for relative, images in first_images.items():
        assert np.array_equal(np.load(smoke_checkpoints / relative)["images"], images), relative
    from cunet_bench.records import runs

    two = runs.load_runs("fid", tmp_path / "two")
    two_points = two[two.kind == "point"].set_index(["model", "sampling_steps"]).distance
    # The samples are bitwise equal (above); their classifier features are float32 convolutions whose
    # kernels depend on each process's thread count, so the distances agree to float32 rounding.
    for row in points:
        assert two_points[(row["model"], row["sampling_steps"])] == pytest.approx(row["distance"], rel=1e-6)


def test_cli_bad_input(smoke_checkpoints, tmp_path):
    def fails(*arguments):
        done = subprocess.run(
            [
                *BENCH,
                "fid",
                "--preset",
                "smoke",
                "--checkpoints",
                str(smoke_checkpoints),
                "--out",
                str(tmp_path),
                *arguments,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        return done.stderr.strip().splitlines()[-1]

    assert "integers from 1" in fails("--sampling-steps", "0")
    assert "between 1 and 1000" in fails("--sampling-steps", "1001")
    assert "unknown sampler" in fails("--sampler", "heun")
    assert "between 2 and 1,000,000, got 1" in fails("--num-samples", "1")
    assert "between 2 and 1,000,000" in fails("--num-samples", "99999999999999999999")
    assert "not above the feature dimension" in fails("--num-samples", "10")
    assert "bench train --model unet-ddpm --data mnist5k --preset smoke" in fails("--models", "unet-ddpm")
    assert "needs the Inception weights, which are not installed" in fails(
        "--features", "inception", "--num-samples", "72"
    )


def test_a_shard_written_by_another_run_is_kept_and_a_damaged_one_regenerated(smoke_checkpoints, tmp_path, monkeypatch):
    from cunet_bench.benchmarks import fid

    config = _config(
        models=("cunet",), sampling_steps=(2,), num_samples=6, batch_size=3, seed=5, checkpoints=str(smoke_checkpoints)
    )
    (backbone,) = load_backbones(config)
    generate_shards(backbone, config, 2, tmp_path / "first")
    original = fid.sample

    def another_run_finishes_first(*args, **kwargs):
        images = original(*args, **kwargs)
        (tmp_path / "second").mkdir(exist_ok=True)
        for path in (tmp_path / "first").iterdir():
            target = tmp_path / "second" / path.name
            if not target.exists():
                target.write_bytes(path.read_bytes())
        return images

    monkeypatch.setattr(fid, "sample", another_run_finishes_first)
    assert generate_shards(backbone, config, 2, tmp_path / "second") == 0
    monkeypatch.setattr(fid, "sample", original)
    shard = tmp_path / "second" / "shard-00001.npz"
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.warns(BenchWarning, match=f"sample shard {shard} is unusable .*; regenerating it"):
        assert generate_shards(backbone, config, 2, tmp_path / "second") == 1
    assert torch.equal(
        read_shards(tmp_path / "first", config, backbone.shape)[0].images,
        read_shards(tmp_path / "second", config, backbone.shape)[0].images,
    )


def test_a_damaged_reference_cache_is_recomputed(tmp_path):
    from cunet_bench.measure.features import ClassifierTraining, feature_extractor
    from cunet_bench.measure.reference_stats import reference_features

    extractor = feature_extractor("classifier", "lfw25", 32, tmp_path, training=ClassifierTraining(steps=5))
    first = reference_features(extractor, "lfw25", 32, tmp_path)
    (cache,) = (tmp_path / "fid-reference").iterdir()
    cache.write_bytes(cache.read_bytes()[:200])
    with pytest.warns(BenchWarning, match="reference statistics cache .* is unusable"):
        again = reference_features(extractor, "lfw25", 32, tmp_path)
    assert np.array_equal(first.stats.covariance, again.stats.covariance)


def test_feature_classifier_is_cached_and_a_corrupt_cache_is_one_line(tmp_path):
    from cunet_bench.measure.features import ClassifierTraining, feature_extractor

    training = ClassifierTraining(steps=5)
    first = feature_extractor("classifier", "lfw25", 32, tmp_path, training=training)
    (cached,) = tmp_path.glob("feature-classifier-lfw25-32px.safetensors")
    stamp = cached.stat().st_mtime_ns
    again = feature_extractor("classifier", "lfw25", 32, tmp_path, training=training)
    assert cached.stat().st_mtime_ns == stamp and again.key == first.key and again.distance_name == "FD-classifier"
    images = torch.rand(6, 1, 32, 32) * 2 - 1
    assert np.allclose(first(images), again(images)) and first(images).shape == (6, 64)
    cached.write_bytes(b"not a safetensors file")
    with pytest.warns(BenchWarning, match="feature classifier cache .* is unusable .*; retraining it"):
        retrained = feature_extractor("classifier", "lfw25", 32, tmp_path, training=training)
    assert np.allclose(first(images), retrained(images))


POISONS = {
    "another image shape": lambda saved: {**saved, "images": saved["images"][:, :, :8, :8].copy()},
    "all black": lambda saved: {**saved, "images": np.zeros_like(saved["images"])},
    "seconds of 1e300": lambda saved: {**saved, "seconds": np.float64(1e300)},
    "a device that is a number": lambda saved: {**saved, "device": np.float64(3)},
}


@pytest.mark.parametrize("poison", POISONS, ids=list(POISONS))
def test_a_poisoned_shard_is_regenerated_not_scored(smoke_checkpoints, tmp_path, poison):
    config = _config(
        models=("cunet",), sampling_steps=(2,), num_samples=6, batch_size=3, seed=5, checkpoints=str(smoke_checkpoints)
    )
    (backbone,) = load_backbones(config)
    generate_shards(backbone, config, 2, tmp_path)
    shard = tmp_path / "shard-00000.npz"
    with np.load(shard, allow_pickle=False) as saved:
        poisoned = POISONS[poison]({key: saved[key] for key in saved.files})
    with open(shard, "wb") as handle:
        np.savez(handle, **poisoned)
    with pytest.warns(BenchWarning, match="sample shard .* is unusable"):
        assert generate_shards(backbone, config, 2, tmp_path) == 1
    assert read_shards(tmp_path, config, backbone.shape)[0].images.shape == (3, 1, 32, 32)


REFERENCE_POISONS = {
    "strings": lambda saved: {**saved, "mean": saved["mean"].astype(str)},
    "complex": lambda saved: {**saved, "covariance": saved["covariance"].astype(complex)},
    "negative covariance": lambda saved: {**saved, "covariance": -np.eye(len(saved["mean"])) * 45},
    "a count that is a vector": lambda saved: {**saved, "count": np.array([5, 5])},
}


@pytest.mark.parametrize("poison", REFERENCE_POISONS, ids=list(REFERENCE_POISONS))
def test_a_poisoned_reference_cache_is_recomputed(tmp_path, poison):
    from cunet_bench.measure.features import ClassifierTraining, feature_extractor
    from cunet_bench.measure.reference_stats import reference_features

    extractor = feature_extractor("classifier", "lfw25", 32, tmp_path, training=ClassifierTraining(steps=5))
    first = reference_features(extractor, "lfw25", 32, tmp_path)
    (cache,) = (tmp_path / "fid-reference").iterdir()
    with np.load(cache, allow_pickle=False) as saved:
        poisoned = REFERENCE_POISONS[poison]({key: saved[key] for key in saved.files})
    with open(cache, "wb") as handle:
        np.savez(handle, **poisoned)
    with pytest.warns(BenchWarning, match="reference statistics cache .* is unusable"):
        again = reference_features(extractor, "lfw25", 32, tmp_path)
    assert np.array_equal(first.stats.covariance, again.stats.covariance)


@pytest.mark.parametrize(
    "field, value", [("feature_scale", "inf"), ("classes", str(10**15)), ("classes", "-1"), ("test_accuracy", "nan")]
)
def test_a_classifier_cache_with_impossible_metadata_is_retrained(tmp_path, field, value):
    from cunet_bench.measure.features import ClassifierTraining, feature_extractor
    from cunet_bench.records.checkpoints import write_safetensors
    from safetensors import safe_open

    training = ClassifierTraining(steps=5)
    first = feature_extractor("classifier", "lfw25", 32, tmp_path, training=training)
    (cached,) = tmp_path.glob("feature-classifier-*.safetensors")
    with safe_open(str(cached), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        metadata = {**handle.metadata(), field: value}
    write_safetensors(cached, tensors, metadata, replaces=lambda path: True)  # forged in place
    with pytest.warns(BenchWarning, match="feature classifier cache .* is unusable .*; retraining it"):
        retrained = feature_extractor("classifier", "lfw25", 32, tmp_path, training=training)
    images = torch.rand(4, 1, 32, 32) * 2 - 1
    assert np.allclose(first(images), retrained(images))


def test_class_entropy_tells_one_drawn_class_from_all_of_them():
    """The normalised entropy of the predicted-class histogram: 1 for every class equally often,
    0 for one class only, log(2)/log(10) for two classes half and half, whatever the confidence."""
    from cunet_bench.benchmarks.fid import sample_quality

    classes = 10
    every = np.eye(classes)[np.arange(50) % classes]
    only_ones = np.eye(classes)[np.ones(50, dtype=int)]
    two = np.full((40, classes), 0.05)
    two[:20, 3], two[20:, 7] = 0.55, 0.55
    assert sample_quality(every)["class_entropy"] == pytest.approx(1.0)
    assert sample_quality(only_ones)["class_entropy"] == 0.0 and sample_quality(only_ones)["confident_fraction"] == 1.0
    assert sample_quality(two)["class_entropy"] == pytest.approx(np.log(2) / np.log(10))
