"""Pretrained-weight handling (never downloads; hash-checked installs) and the SSIM/LPIPS code paths."""

import hashlib
import json
import subprocess
import sys

import pytest
import torch

from cunet_bench import weights
from cunet_bench.errors import UserError
from cunet_bench.metrics import Lpips, MetricUnavailable, SSIM_SETTINGS, ssim


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
    command = [sys.executable, "-c", "from cunet_bench.cli import main; main()", "weights"]
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
    assert torch.allclose(ssim(images, images), torch.ones(3, dtype=torch.float64))
    colour = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(ssim(colour, colour), torch.ones(2, dtype=torch.float64))
    noisy = (images + 0.2 * torch.randn(images.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    assert (ssim(noisy, images) < 0.9).all()
    assert SSIM_SETTINGS["gaussian_weights"] and SSIM_SETTINGS["sigma"] == 1.5
    assert not SSIM_SETTINGS["use_sample_covariance"]


def test_lpips_code_path_with_a_random_backbone():
    metric = Lpips(random_backbone=True)
    gray = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert torch.equal(metric(gray, gray), torch.zeros(2, dtype=torch.float64))
    other = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    assert (metric(other, gray) > 0).all()
