"""The diffusion core against closed forms."""

import math

import pytest
import torch
from cunet_bench.diffusion.process import (
    DiffusionConfig,
    GaussianDiffusion,
    cosine_betas,
    linear_betas,
    respaced_timesteps,
    sample,
    sigmoid_betas,
)
from cunet_bench.errors import UserError


def test_linear_schedule_alpha_bar_closed_form():
    betas = linear_betas(1000)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    diffusion = GaussianDiffusion(DiffusionConfig("linear"))
    for t in (0, 49, 499, 999):
        exact = math.prod(1 - (1e-4 + (0.02 - 1e-4) * i / 999) for i in range(t + 1))
        assert diffusion.alpha_bar[t].item() == pytest.approx(exact, rel=1e-12)
    assert diffusion.alpha_bar[-1].item() == pytest.approx(4.036e-5, rel=1e-3)


def test_cosine_schedule_alpha_bar_closed_form():
    diffusion = GaussianDiffusion(DiffusionConfig("cosine"))
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
    for t in (0, 100, 500, 900):
        assert diffusion.alpha_bar[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-10)
    assert cosine_betas(1000).max().item() <= 0.999


def test_sigmoid_schedule_alpha_bar_closed_form():
    diffusion = GaussianDiffusion(DiffusionConfig("sigmoid"))
    s = lambda x: 1 / (1 + math.exp(-x))
    g = lambda t: (s(3) - s(6 * t / 1000 - 3)) / (s(3) - s(-3))
    for t in (0, 300, 700):
        assert diffusion.alpha_bar[t].item() == pytest.approx(g(t + 1) / g(0), rel=1e-10)
    assert (sigmoid_betas(1000) <= 0.999).all()


@pytest.mark.parametrize("schedule", ["linear", "cosine", "sigmoid"])
def test_parameterisation_round_trips(schedule):
    diffusion = GaussianDiffusion(DiffusionConfig(schedule))
    x0 = torch.rand(4, 1, 8, 8, dtype=torch.float64) * 2 - 1
    eps = torch.randn_like(x0)
    t = torch.tensor([0, 10, 500, 998])
    x_t = diffusion.q_sample(x0, t, eps)
    torch.testing.assert_close(diffusion.x0_from_eps(x_t, t, eps), x0)
    torch.testing.assert_close(diffusion.eps_from_x0(x_t, t, x0), eps)
    v = diffusion.v_from(x0, eps, t)
    torch.testing.assert_close(diffusion.x0_from_v(x_t, t, v), x0)
    for objective, output in (("eps", eps), ("v", v), ("x0", x0)):
        d = GaussianDiffusion(DiffusionConfig(schedule, objective))
        eps_hat, x0_hat = d.predictions(output, x_t, t, clip=False)
        torch.testing.assert_close(x0_hat, x0)
        torch.testing.assert_close(eps_hat, eps)


def test_posterior_matches_the_product_of_gaussians():
    """q(x_{t-1}|x_t,x0) ∝ N(x_t; √α_t x_{t-1}, β_t) · N(x_{t-1}; √ᾱ_{t-1} x0, 1−ᾱ_{t-1})."""
    diffusion = GaussianDiffusion(DiffusionConfig("linear"))
    x0 = torch.randn(3, 1, 2, 2, dtype=torch.float64)
    x_t = torch.randn_like(x0)
    t = torch.tensor([1, 200, 999])
    mean, variance = diffusion.posterior(x0, x_t, t)
    for i, step in enumerate(t.tolist()):
        alpha, beta = diffusion.alphas[step].item(), diffusion.betas[step].item()
        alpha_bar_prev = diffusion.alpha_bar[step - 1].item()
        precision = alpha / beta + 1 / (1 - alpha_bar_prev)
        expected = (
            math.sqrt(alpha) / beta * x_t[i] + math.sqrt(alpha_bar_prev) / (1 - alpha_bar_prev) * x0[i]
        ) / precision
        torch.testing.assert_close(mean[i], expected)
        assert variance[i].item() == pytest.approx(1 / precision, rel=1e-10)


def test_ddpm_step_mean_is_the_posterior_mean():
    diffusion = GaussianDiffusion(DiffusionConfig("cosine"))
    x0 = torch.rand(2, 1, 4, 4, dtype=torch.float64) * 2 - 1
    eps = torch.randn_like(x0)
    t = torch.tensor([400, 30])
    x_t = diffusion.q_sample(x0, t, eps)
    for t_prev in (t - 1, torch.tensor([350, 0]), torch.tensor([-1, -1])):
        mean = diffusion.ddpm_step(x_t, t, t_prev, eps, noise=None)
        torch.testing.assert_close(mean, diffusion.posterior(x0, x_t, t, t_prev)[0])


def test_ddim_eta0_is_deterministic_and_exact_with_the_true_noise():
    diffusion = GaussianDiffusion(DiffusionConfig("linear"))
    x0 = torch.rand(2, 1, 4, 4, dtype=torch.float64) * 2 - 1
    eps = torch.randn_like(x0)
    t, t_prev = torch.tensor([700, 700]), torch.tensor([300, -1])
    x_t = diffusion.q_sample(x0, t, eps)
    first = diffusion.ddim_step(x_t, t, t_prev, eps, x0)
    torch.testing.assert_close(first, diffusion.ddim_step(x_t, t, t_prev, eps, x0), rtol=0, atol=0)
    torch.testing.assert_close(first[0], diffusion.q_sample(x0, t_prev, eps)[0])
    torch.testing.assert_close(first[1], x0[1])


@pytest.mark.parametrize("sampler, steps", [("ddim", 10), ("ddpm", 1000), ("ddpm", 25)])
def test_sampler_with_an_oracle_recovers_x0(sampler, steps):
    diffusion = GaussianDiffusion(DiffusionConfig("linear"))
    x0 = torch.rand(3, 1, 6, 6, generator=torch.Generator().manual_seed(3)) * 1.6 - 0.8

    def oracle(x, t):
        return diffusion.eps_from_x0(x, t, x0)

    out = sample(oracle, diffusion, (1, 6, 6), range(3), steps, sampler, seed=1)
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-4)


def test_samples_do_not_depend_on_batching():
    diffusion = GaussianDiffusion(DiffusionConfig("cosine"))
    model = lambda x, t: 0.3 * x
    whole = sample(model, diffusion, (1, 4, 4), range(4), 20, "ddpm", seed=5)
    halves = torch.cat(
        [
            sample(model, diffusion, (1, 4, 4), range(0, 2), 20, "ddpm", seed=5),
            sample(model, diffusion, (1, 4, 4), range(2, 4), 20, "ddpm", seed=5),
        ]
    )
    torch.testing.assert_close(whole, halves, rtol=0, atol=0)


def test_respaced_timesteps():
    assert respaced_timesteps(1000, 5) == [999, 749, 500, 250, 0]
    assert respaced_timesteps(1000, 1000) == list(range(999, -1, -1))
    assert respaced_timesteps(1000, 1) == [999]
    with pytest.raises(UserError):
        respaced_timesteps(1000, 0)
    with pytest.raises(UserError):
        respaced_timesteps(1000, 1001)


@pytest.mark.parametrize("field, value", [("schedule", "quadratic"), ("objective", "score"), ("timesteps", 1)])
def test_bad_diffusion_configuration(field, value):
    with pytest.raises(UserError):
        DiffusionConfig(**{field: value})
