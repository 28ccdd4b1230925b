"""Pretrained-weight handling (never downloads; hash-checked installs) and the SSIM/LPIPS code paths."""

import hashlib
import json
import subprocess
import sys

import pytest
import torch
from cunet_bench.errors import MetricUnavailable, UserError
from cunet_bench.measure import weights
from cunet_bench.measure.metrics import SSIM_SETTINGS, Lpips, ssim


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    return tmp_path


def test_everything_missing_in_an_empty_cache(torch_home):
    assert {row["weights"]: row["state"] for row in weights.status()} == {"alexnet": "missing", "inception": "missing"}
    assert weights.available("alexnet") is None
    with pytest.raises(MetricUnavailable, match="weights not installed"):
        Lpips()


def test_install_checks_the_hash_in_the_name(torch_home, monkeypatch):
    payload = b"pretend these are AlexNet weights"
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    fake = weights.WeightFile("alexnet", f"alexnet-test-{prefix}.pth", "LPIPS")
    monkeypatch.setitem(weights.KNOWN, "alexnet", fake)
    source = torch_home / fake.filename
    source.write_bytes(payload)
    weights.install(source)
    assert weights.available("alexnet") == weights.cache_dir() / fake.filename
    installed = weights.cache_dir() / fake.filename
    installed.write_bytes(b"tampered")
    assert weights.state(fake) == "hash mismatch" and weights.available("alexnet") is None


def test_install_refuses_a_wrong_file(torch_home):
    wrong = torch_home / "alexnet-owt-7be5be79.pth"
    wrong.write_bytes(b"not the published weights")
    with pytest.raises(UserError, match="does not start with 7be5be79"):
        weights.install(wrong)
    other = torch_home / "resnet50.pth"
    other.write_bytes(b"x")
    with pytest.raises(UserError, match="not a weights file the metrics use"):
        weights.install(other)
    with pytest.raises(UserError, match="does not exist"):
        weights.install(torch_home / "absent.pth")
    assert not (weights.cache_dir() / "alexnet-owt-7be5be79.pth").exists()


def test_weights_cli(torch_home):
    environment = {"TORCH_HOME": str(torch_home / "torch"), "PATH": ""}
    command = [sys.executable, "-c", "from cunet_bench.cli.app import main; main()", "weights"]
    done = subprocess.run([*command, "status", "--format", "json"], capture_output=True, text=True, env=environment)
    assert done.returncode == 0, done.stderr
    assert {row["state"] for row in json.loads(done.stdout)} == {"missing"}
    bad = torch_home / "pt_inception-2015-12-05-6726825d.pth"
    bad.write_bytes(b"x")
    done = subprocess.run([*command, "install", "--from", str(bad)], capture_output=True, text=True, env=environment)
    assert done.returncode == 2 and done.stderr.strip().startswith("bench: error:")
    assert "does not start with 6726825d" in done.stderr


def test_ssim_of_identical_images_is_one_and_settings_are_wang():
    images = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert ssim(images, images).tolist() == [1.0] * 3
    colour = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert ssim(colour, colour).tolist() == [1.0] * 2
    noisy = (images + 0.2 * torch.randn(images.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    assert (ssim(noisy, images) < 0.9).all()
    assert SSIM_SETTINGS["gaussian_weights"] and SSIM_SETTINGS["sigma"] == 1.5
    assert not SSIM_SETTINGS["use_sample_covariance"]


@pytest.mark.parametrize("shape", [(4, 1, 32, 32), (3, 3, 32, 32), (2, 1, 11, 11), (2, 3, 37, 45), (2, 1, 11, 30)])
def test_ssim_equals_scikit_image_per_image(shape):
    """The batched SSIM is scikit-image's, image by image (colour: its channel_axis mean), at the
    smallest size the 11-pixel window allows, non-square and odd sizes included."""
    from skimage.metrics import structural_similarity

    draws = torch.Generator().manual_seed(sum(shape))
    reference = torch.rand(shape, generator=draws)
    estimate = (reference + 0.3 * torch.randn(shape, generator=draws)).clamp(0, 1)
    expected = [
        structural_similarity(a[0], b[0], **SSIM_SETTINGS)
        if a.shape[0] == 1
        else structural_similarity(a, b, channel_axis=0, **SSIM_SETTINGS)
        for a, b in zip(estimate.double().numpy(), reference.double().numpy())
    ]
    assert ssim(estimate, reference).tolist() == pytest.approx(expected, rel=0, abs=1e-12)


def test_ssim_refuses_images_smaller_than_its_window():
    with pytest.raises(UserError, match="at least 11×11 pixels .*, got 10×32"):
        ssim(torch.rand(1, 1, 10, 32), torch.rand(1, 1, 10, 32))


def test_lpips_code_path_with_a_random_backbone():
    metric = Lpips(random_backbone=True)
    gray = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert torch.equal(metric(gray, gray), torch.zeros(2, dtype=torch.float64))
    other = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    assert (metric(other, gray) > 0).all()


class _Payload:
    """Pickles to a call of os.system: what a forged weights file would run on load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def _bypass_hash_checks(monkeypatch):
    """Make every installed file pass its hash check, as a forged prefix collision would."""
    prefixes = {w.filename: w.hash_prefix for w in weights.KNOWN.values()}
    monkeypatch.setattr(weights, "_file_digest", lambda path: prefixes[path.name] + "0" * 56)


@pytest.mark.parametrize("key", ["alexnet", "inception"])
def test_a_pickle_payload_in_an_installed_weights_file_is_refused_and_never_runs(torch_home, monkeypatch, key):
    from cunet_bench.measure.features import inception_network

    marker = torch_home / "payload-ran"
    weights.cache_dir().mkdir(parents=True)
    torch.save({"features.0.weight": _Payload(marker)}, weights.cache_dir() / weights.KNOWN[key].filename)
    _bypass_hash_checks(monkeypatch)
    assert weights.state(weights.KNOWN[key]) == "installed"
    build = Lpips if key == "alexnet" else inception_network
    with pytest.raises(UserError, match="was refused: it is not plain tensors"):
        build()
    assert not marker.exists()


def test_a_payload_is_refused_by_bench_weights_verify_with_one_line(torch_home):
    marker = torch_home / "payload-ran"
    cache = torch_home / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save({"x": _Payload(marker)}, cache / "alexnet-owt-7be5be79.pth")
    bypass = (
        "import cunet_bench.measure.weights as w; p = {x.filename: x.hash_prefix for x in w.KNOWN.values()}; "
        "w._file_digest = lambda path: p[path.name] + '0' * 56; from cunet_bench.cli.app import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", bypass, "weights", "verify", "--format", "json"],
        capture_output=True,
        text=True,
        env={"TORCH_HOME": str(torch_home / "torch"), "PATH": ""},
        timeout=300,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert (
        line.startswith("bench: error: verification failed: alexnet (refused: weights file") and "plain tensors" in line
    )
    rows = {row["weights"]: row for row in json.loads(done.stdout)}
    assert "32 bits" in rows["alexnet"]["checked"] and "no full SHA-256 pinned" in rows["alexnet"]["checked"]
    assert rows["inception"]["result"] == "missing"
    assert not marker.exists()


def test_lpips_loads_an_alexnet_state_dict_into_its_slices(torch_home, monkeypatch):
    import torchvision

    alexnet = torchvision.models.alexnet(weights=None)
    weights.cache_dir().mkdir(parents=True)
    torch.save(alexnet.state_dict(), weights.cache_dir() / "alexnet-owt-7be5be79.pth")
    _bypass_hash_checks(monkeypatch)
    metric = Lpips()
    assert torch.equal(metric.network.net.slice1[0].weight, alexnet.features[0].weight)
    assert torch.equal(metric.network.net.slice5[0].bias, alexnet.features[10].bias)
    gray = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(metric(gray, gray), torch.zeros(2, dtype=torch.float64))
    torch.save({"features.0.weight": torch.zeros(3)}, weights.cache_dir() / "alexnet-owt-7be5be79.pth")
    with pytest.raises(UserError, match="does not match the AlexNet of LPIPS"):
        Lpips()


def test_a_full_digest_can_be_pinned_and_is_rechecked(torch_home, monkeypatch):
    payload = b"pretend these are AlexNet weights"
    digest = hashlib.sha256(payload).hexdigest()
    fake = weights.WeightFile("alexnet", f"alexnet-test-{digest[:8]}.pth", "LPIPS")
    monkeypatch.setitem(weights.KNOWN, "alexnet", fake)
    source = torch_home / fake.filename
    source.write_bytes(payload)
    with pytest.raises(UserError, match="not the pinned"):
        weights.install(source, "0" * 64)
    with pytest.raises(UserError, match="64 hex digits"):
        weights.install(source, "abc")
    weights.install(source, digest.upper())
    assert weights.state(fake) == "installed" and weights.pinned_digest(fake) == digest
    assert {row["weights"]: row["full SHA-256 pinned"] for row in weights.status()}["alexnet"] == "yes"
    (weights.cache_dir() / (fake.filename + ".sha256")).write_text("f" * 64)
    assert weights.state(fake) == "pin mismatch" and weights.available("alexnet") is None
    (weights.cache_dir() / (fake.filename + ".sha256")).write_text("garbage")
    with pytest.raises(UserError, match="does not hold a SHA-256"):
        weights.state(fake)
    weights.install(source)
    assert weights.pinned_digest(fake) is None
