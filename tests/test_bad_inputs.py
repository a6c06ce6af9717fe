"""Bad inputs give errors that name the argument, never a silent result (issue 16's list; each failed before).

* tolerances: a negative, NaN or infinite rtol / atol made ``error / tolerance <= 1`` pass plainly wrong code;
* a torch score that autodiff cannot trace (calls ``.numpy()``) in ``log_likelihood``: a ValueError naming the
  cause and the ways out, not torch's "Cannot access data pointer of Tensor that doesn't have storage";
* ``ScheduleSDE`` checks alpha > 0, sigma >= 0, finiteness and a decreasing log-SNR before its first use;
* losses check the model output as the samplers check a score (shape, a list, NaN);
* ``sde=None``, ``ref=None``, ``check_prior(d=0)``, ``n=0``, empty batches, ``VPSDE(beta_max="abc")``, mixed
  NumPy + torch inputs to the parameterization helpers;
* a correct loss drawing float32 t for float64 data (torch.rand) is not "t below eps" when a draw is 0;
* an exception raised inside the candidate is a ConformanceError saying so, the original chained;
* ``progress=True`` without tqdm says so once.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np
import pytest

import refsde
from refsde.losses import dsm_loss, parameterization as P
from refsde.sampling import sample_ode, sample_sde
from refsde.testing import (
    ConformanceError,
    check_coefficients,
    check_dsm_loss,
    check_log_likelihood,
    check_marginal,
    check_ode_sampler,
    check_prior,
    check_sde_sampler,
)

VP = refsde.VPSDE()
BAD_TOLERANCES = [-1.0, float("nan"), float("inf"), "abc"]


@pytest.mark.parametrize("bad", BAD_TOLERANCES)
def test_bad_tolerances_are_value_errors(bad: Any) -> None:
    wrong_sde = lambda x, t: (2.0 * VP.drift(x, t), VP.diffusion(t))  # noqa: E731  (plainly wrong)
    wrong_marginal = lambda x, t: (0.0 * x, VP.marginal(x, t)[1])  # noqa: E731
    wrong_loglik = lambda score, x: np.zeros(x.shape[0])  # noqa: E731
    for kw in ({"rtol": bad}, {"atol": bad}):
        with pytest.raises(ValueError, match="rtol|atol"):
            check_coefficients(wrong_sde, VP, **kw)
        with pytest.raises(ValueError, match="rtol|atol"):
            check_marginal(wrong_marginal, VP, **kw)
        with pytest.raises(ValueError, match="rtol|atol"):
            check_log_likelihood(wrong_loglik, VP, **kw)
    with pytest.raises(ValueError, match="rtol"):
        check_ode_sampler(lambda s, x, n: x, VP, 10, method="euler", rtol=bad)
    with pytest.raises(ValueError, match="rel_std_error"):
        check_sde_sampler(lambda s, x, n: x, VP, 10, method="euler_maruyama", rel_std_error=bad)
    with pytest.raises(ValueError):
        check_log_likelihood(wrong_loglik, VP, rtol=0.0, atol=0.0)


def test_untraceable_torch_score_in_the_likelihood_names_the_cause() -> None:
    torch = pytest.importorskip("torch")
    from refsde.likelihood import log_likelihood

    x = torch.randn(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="could not trace score_fn") as info:
        log_likelihood(lambda y, t: torch.as_tensor(-y.numpy()), VP, x)
    assert "divergence(x, t)" in str(info.value) and info.value.__cause__ is not None


@pytest.mark.parametrize(
    "alpha, sigma, match",
    [
        (lambda t: 1.0 - t, lambda t: t, "alpha\\(t\\) must be > 0"),
        (lambda t: 1.0 + 0.0 * t, lambda t: -t, "sigma\\(t\\) must be >= 0"),
        (lambda t: 1.0 / (0.5 - t), lambda t: t, "finite|> 0"),
        (lambda t: 1.0 + 0.0 * t, lambda t: 0.5 + 0.0 * t, "log-SNR .* must decrease"),
    ],
)
def test_schedule_sde_is_validated_before_first_use(alpha: Any, sigma: Any, match: str) -> None:
    sde = refsde.ScheduleSDE(alpha=alpha, sigma=sigma)
    with pytest.raises(ValueError, match=match):
        sde.sigma(0.3)


@pytest.mark.parametrize("output, match", [
    (lambda x, t: [1.0] * x.shape[0], "shape"),
    (lambda x, t: x[:, :1], "shape"),
    (lambda x, t: x * float("nan"), "NaN"),
])
def test_losses_check_the_model_output(output: Any, match: str) -> None:
    x0 = np.ones((4, 3))
    with pytest.raises(ValueError, match=match):
        dsm_loss(output, VP, x0, rng=0)


def test_arguments_that_are_not_what_they_should_be() -> None:
    x = np.ones((2, 3))
    with pytest.raises(TypeError, match="sde must be"):
        sample_sde(lambda y, t: -y, None, x, 5)
    with pytest.raises(TypeError, match="sde must be"):
        sample_ode(lambda y, t: -y, None, x, 5)
    with pytest.raises(ValueError, match="ref must be"):
        check_coefficients(VP.sde, None)
    with pytest.raises(ValueError, match="ref must be"):
        check_sde_sampler(lambda s, y, n: y, None, 10, method="euler_maruyama")
    with pytest.raises(ValueError, match="d must be"):
        check_prior(lambda shape: np.zeros(shape), VP.prior_logp, VP, d=0)
    with pytest.raises(ValueError, match="n must be"):
        check_prior(lambda shape: np.zeros(shape), VP.prior_logp, VP, n=0)
    with pytest.raises(ValueError, match="n >= 1"):
        sample_sde(lambda y, t: -y, VP, np.ones((0, 3)), 5)
    with pytest.raises(ValueError, match="beta_max"):
        refsde.VPSDE(beta_max="abc")
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="numpy.*torch|torch.*numpy"):
        P.score_from_eps(torch.ones(2, dtype=torch.float64), np.ones(2))
    with pytest.raises(TypeError, match="numpy.*torch|torch.*numpy"):
        P.x0_from_score(np.ones(2), torch.ones(2, dtype=torch.float64), 0.5, 0.3)


def test_float32_times_of_a_float64_loss_are_not_below_eps() -> None:
    """A loss drawing t in float32 (torch.rand does, whatever the data's dtype) gets t = float32(eps) < eps from a
    draw of 0; compared in t's own dtype that is eps, not a time below it (a false alarm in ~1 run in 5 before)."""
    eps = 1e-5
    assert float(np.float32(eps)) < eps

    def loss(score_fn: Any, x0: Any) -> Any:
        n = x0.shape[0]
        u = np.random.default_rng(int(abs(x0[0, 0]) * 1e6)).random(n).astype(np.float32)
        u[0] = 0.0  # the draw that used to trip the check
        t = (np.float32(eps) + np.float32(VP.T - eps) * u).astype(np.float32)
        z = np.random.default_rng(int(abs(x0[0, 1]) * 1e6)).standard_normal(x0.shape)
        return dsm_loss(score_fn, VP, x0, t=t, z=z, eps=eps)

    report = check_dsm_loss(loss, VP, eps=eps, max_samples=200_000, backend="numpy")  # a NumPy loss
    assert report.passed


def test_an_exception_inside_the_candidate_is_a_conformance_error() -> None:
    def broken(*args: Any) -> Any:
        raise AttributeError("this corrector does not support VESDE")

    for run in (lambda: check_sde_sampler(broken, VP, 10, method="euler_maruyama"),
                lambda: check_ode_sampler(broken, VP, 10, method="euler"),
                lambda: check_log_likelihood(broken, VP),
                lambda: check_prior(broken, VP.prior_logp, VP)):
        with pytest.raises(ConformanceError, match="raised under this reference") as info:
            run()
        assert isinstance(info.value.__cause__, AttributeError)


def test_progress_without_tqdm_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import refsde._arrays as arrays

    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    monkeypatch.setattr(arrays, "_WARNED_NO_TQDM", False)
    x = VP.prior_sample((3, 2), 0)
    with pytest.warns(UserWarning, match="tqdm"):
        sample_sde(lambda y, t: -y, VP, x, 5, rng=0, progress=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sample_ode(lambda y, t: -y, VP, x, 5, progress=True)  # once per process: no second warning
