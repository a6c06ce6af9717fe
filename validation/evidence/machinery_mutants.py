"""Mutants of the machinery: reverse-SDE / PF-ODE samplers, Langevin corrector, DSM loss, log-likelihood.

Every candidate here is a small loop written for this catalogue from the paper (Song et al. 2021, eqs. 6,
7, 13, 39-40 and the Langevin step), not from refsde's functions: the correct loops are the :data:`MACHINERY_CONTROLS`
(every check must pass them), and each :data:`MACHINERY_MUTANTS` entry is the same loop with one bug
(a keyword of the loop switches it on).  Coefficients are Python floats at the float times of the loops;
arrays are the caller's (array-api-compat namespace, dtype and device of x); random draws come from the
active refsde backend's RNG, re-seeded on every call (a counter), so repeated calls are independent.

Loaded by :mod:`refsde_validation.evidence.mutants`, which adds these to ``MUTANTS`` and ``CONTROLS``.
"""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace
from typing import Any, Callable

from array_api_compat import array_namespace
from array_api_compat import device as array_device

from .mutant_base import B0, B1, S0, S1, VE_PRIOR_STD, Mutant
from .mutant_base import ref_sde as _ref

__all__ = ["MACHINERY_CONTROLS", "MACHINERY_MUTANTS"]

T = 1.0
EPS_SAMPLER = 1e-3  # the checks' default eps for samplers and likelihood
EPS_LOSS = 1e-3  # the DSM candidates' eps (passed to check_dsm_loss)
SDE_STEPS = 25  # fewer steps than the check's default 100: faster, and O(h) slips are larger
ODE_STEPS = 50
LIK_STEPS = 100  # RK4 steps of the likelihood candidates (worst error 6e-6 nat VP, 3e-5 VE; tolerance >= 5e-3)
CORRECTOR_STEP = 0.01  # Langevin step e at t = 0.1 (e / v_t = 0.07 and 0.01 in the check's two groups)


# ---- coefficients (Song et al. 2021, eqs. 30-34), Python floats ---------------------------------------
def _coefficients(kind: str, t: float) -> tuple[float, float]:
    """(f(t), g(t)^2): VP f = -beta / 2, g^2 = beta; VE f = 0, g^2 = d sigma^2 / dt = 2 log(s1/s0) sigma(t)^2."""
    if kind == "vp":
        beta = B0 + (B1 - B0) * t
        return -0.5 * beta, beta
    log_ratio = math.log(S1 / S0)
    return 0.0, 2.0 * log_ratio * (S0 * math.exp(t * log_ratio)) ** 2


def _grid(n_steps: int, eps: float) -> list[float]:
    """t_k = linspace(T, eps, n_steps + 1) (the convention of the checks)."""
    return [T + (eps - T) * k / n_steps for k in range(n_steps + 1)]


class _Seeds:
    """A fresh seed on every call, so that repeated calls of a candidate draw independent noise."""

    def __init__(self, start: int) -> None:
        self._it = itertools.count(start)

    def rng(self) -> Any:
        import refsde

        return refsde.get_backend().rng(next(self._it))


# ---- reverse-SDE sampler: Euler-Maruyama (eq. 6) ------------------------------------------------------
def em_sampler(*, g_not_g2: bool = False, dt_sign: float = 1.0, right_end: bool = False,
               sqrt_dt: bool = True, last_noise: bool = True) -> Callable[..., Any]:
    """x' = x - (f x - g^2 s(x, t)) h + g sqrt(h) z, h = t_k - t_{k+1}, everything at the left end t_k."""
    seeds = _Seeds(7_000)

    def sampler(score_fn: Any, x: Any, n_steps: int) -> Any:
        rng = seeds.rng()
        t = _grid(n_steps, EPS_SAMPLER)
        for k in range(n_steps):
            h = t[k] - t[k + 1]
            tc = t[k + 1] if right_end else t[k]
            f, g2 = _coefficients("vp", tc)
            g_drift = math.sqrt(g2) if g_not_g2 else g2
            x_new = x - dt_sign * (f * x - g_drift * score_fn(x, tc)) * h
            if last_noise or k < n_steps - 1:
                z = rng.normal(tuple(x.shape), dtype=x.dtype)
                x_new = x_new + math.sqrt(g2 * h if sqrt_dt else g2) * z
            x = x_new
        return x

    return sampler


# ---- probability-flow ODE: Euler and Heun (eq. 13) ---------------------------------------------------
def pf_ode_sampler(method: str, *, half: float = 0.5, heun_wrong_time: bool = False) -> Callable[..., Any]:
    """F(x, t) = f x - g^2 s / 2; Euler x' = x - h F(x, t); Heun x' = x - h (F(x, t) + F(x - h F, t - h)) / 2."""

    def F(score_fn: Any, x: Any, t: float) -> Any:
        f, g2 = _coefficients("vp", t)
        return f * x - half * g2 * score_fn(x, t)

    def sampler(score_fn: Any, x: Any, n_steps: int) -> Any:
        t = _grid(n_steps, EPS_SAMPLER)
        for k in range(n_steps):
            h = t[k] - t[k + 1]
            k1 = F(score_fn, x, t[k])
            if method == "euler":
                x = x - h * k1
            else:
                k2 = F(score_fn, x - h * k1, t[k] if heun_wrong_time else t[k + 1])
                x = x - 0.5 * h * (k1 + k2)
        return x

    return sampler


# ---- Langevin corrector (unadjusted Langevin step, fixed step size) --------------------------------------
def langevin_step(*, noise_factor: float = 2.0, use_score: bool = True) -> Callable[..., Any]:
    """x' = x + e s(x, t) + sqrt(2 e) z with a fixed step e."""
    seeds = _Seeds(9_000)

    def corrector(score_fn: Any, x: Any, t: float) -> Any:
        z = seeds.rng().normal(tuple(x.shape), dtype=x.dtype)
        drift = CORRECTOR_STEP * score_fn(x, t) if use_score else 0.0 * x
        return x + drift + math.sqrt(noise_factor * CORRECTOR_STEP) * z

    return corrector


# ---- DSM loss (eq. 7), VP, lambda = sigma_t^2 ----------------------------------------------------------
def dsm_vp_sigma2(*, target_sign: float = 1.0, weight_power: float = 2.0,
                  t_low: float = EPS_LOSS) -> Callable[..., Any]:
    """mean_n lambda(t) |s(x_t, t) + z / sigma_t|^2, t ~ U(eps, T), x_t = alpha_t x0 + sigma_t z, lambda = sigma^2;
    alpha_t = exp(-B/2), sigma_t = sqrt(-expm1(-B)), B = beta_min t + (beta_max - beta_min) t^2 / 2 (eq. 33)."""
    seeds = _Seeds(11_000)

    def loss(score_fn: Any, x0: Any) -> Any:
        xp = array_namespace(x0)
        rng = seeds.rng()
        n = x0.shape[0]
        t = t_low + (T - t_low) * rng.uniform((n,), dtype=x0.dtype)
        z = rng.normal(tuple(x0.shape), dtype=x0.dtype)
        B = B0 * t + 0.5 * (B1 - B0) * t * t
        alpha = xp.reshape(xp.exp(-0.5 * B), (n, 1))
        sigma = xp.reshape(xp.sqrt(-xp.expm1(-B)), (n, 1))
        r = score_fn(alpha * x0 + sigma * z, t) + target_sign * z / sigma
        return xp.mean(xp.sum(sigma**weight_power * r * r, axis=1))

    return loss


# ---- PF-ODE log-likelihood (eqs. 39-40): RK4 on (x, integral of div F) from eps to T ------------------
def pf_loglik(kind: str, *, div_sign: float = 1.0, two_pi: bool = True, prior_std: float | None = None,
              probes: str = "exact", fd_h: float = 1e-2) -> Callable[..., Any]:
    """log p(x) = log pi(x(T)) + int_eps^T div F(x(t), t) dt, F = f x - g^2 s / 2, RK4 with LIK_STEPS steps.

    div F = sum_i (F_i(x + h e_i) - F_i(x - h e_i)) / (2 h) (central differences along the axes: exact for the
    check's linear F up to rounding), or Hutchinson v^T (F(x + h v) - F(x - h v)) / (2 h) with one probe v per
    sample for the whole solve (``probes`` = "gaussian", or the biased "uniform01").  pi = N(0, prior_std^2 I)."""
    std = (1.0 if kind == "vp" else VE_PRIOR_STD) if prior_std is None else prior_std
    seeds = _Seeds(13_000)

    def loglik(score_fn: Any, x: Any) -> Any:
        xp = array_namespace(x)
        n, d = x.shape
        if probes == "exact":
            basis = xp.eye(d, dtype=x.dtype, device=array_device(x))
        else:
            rng = seeds.rng()
            basis = rng.normal((n, d), dtype=x.dtype) if probes == "gaussian" else rng.uniform((n, d), dtype=x.dtype)

        def F(y: Any, t: float) -> Any:
            f, g2 = _coefficients(kind, t)
            return f * y - 0.5 * g2 * score_fn(y, t)

        def rhs(y: Any, t: float) -> tuple[Any, Any]:
            if probes == "exact":
                shifts = [y + fd_h * basis[i, :] for i in range(d)] + [y - fd_h * basis[i, :] for i in range(d)]
                out = F(xp.concat([y] + shifts, axis=0), t)
                div = sum((out[(1 + i) * n:(2 + i) * n, i] - out[(1 + d + i) * n:(2 + d + i) * n, i]) for i in range(d))
                return out[:n, :], div / (2.0 * fd_h)
            out = F(xp.concat([y, y + fd_h * basis, y - fd_h * basis], axis=0), t)
            div = xp.sum(basis * (out[n:2 * n, :] - out[2 * n:, :]), axis=1) / (2.0 * fd_h)
            return out[:n, :], div

        t = [EPS_SAMPLER + (T - EPS_SAMPLER) * k / LIK_STEPS for k in range(LIK_STEPS + 1)]
        delta = xp.zeros((n,), dtype=x.dtype, device=array_device(x))
        for k in range(LIK_STEPS):
            h, tk = t[k + 1] - t[k], t[k]
            k1, d1 = rhs(x, tk)
            k2, d2 = rhs(x + 0.5 * h * k1, tk + 0.5 * h)
            k3, d3 = rhs(x + 0.5 * h * k2, tk + 0.5 * h)
            k4, d4 = rhs(x + h * k3, tk + h)
            x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            delta = delta + (h / 6.0) * (d1 + 2.0 * d2 + 2.0 * d3 + d4)
        const = 0.5 * d * math.log(2.0 * math.pi * std * std) if two_pi else 0.5 * d * math.log(std * std)
        log_prior = -xp.sum(x * x, axis=1) / (2.0 * std * std) - const  # log N(x_T; 0, std^2 I)
        return log_prior + div_sign * delta

    return loglik


# ---- drifts from a score (eqs. 6, 13) ---------------------------------------------------------------------
def vp_drift(*, weight: float = 0.5, g_power: float = 2.0, eps_as_score: bool = False) -> Callable[..., Any]:
    """drift(score_fn, x, t) = f(t) x - weight g(t)^g_power s(x, t), t of shape (n,), VP (weight 1/2: PF ODE)."""

    def drift(score_fn: Any, x: Any, t: Any) -> Any:
        xp = array_namespace(x)
        beta = xp.reshape(B0 + (B1 - B0) * t, (-1, 1))
        s = score_fn(x, t)
        if eps_as_score:
            B = B0 * t + 0.5 * (B1 - B0) * t * t
            s = -xp.reshape(xp.sqrt(-xp.expm1(-B)), (-1, 1)) * s  # eps = -sigma s passed as the score
        return -0.5 * beta * x - weight * beta ** (g_power / 2.0) * s

    return drift


# ---- discrete losses (Ho et al. 2020 eq. 14; Song & Ermon 2019 eq. 2) ---------------------------------------
DDPM_N = 1000  # the reference VPSDE's chain length (its default N)


def ddpm_eps_loss(*, reduction: str = "sum") -> Callable[..., Any]:
    """mean_n || eps_model(x_i, i) - z ||^2, i ~ U{0..N-1}, abar_i = prod_{j <= i} (1 - beta(t_j) T / N), t_j = j T / (N - 1);
    ``reduction`` "mean": averaged over dimensions (F.mse_loss)."""
    seeds = _Seeds(15_000)
    log_abar = list(itertools.accumulate(math.log1p(-(B0 + (B1 - B0) * j / (DDPM_N - 1)) / DDPM_N) for j in range(DDPM_N)))

    def loss(eps_model: Any, x0: Any) -> Any:
        xp = array_namespace(x0)
        rng = seeds.rng()
        n = x0.shape[0]
        i = xp.astype(xp.floor(DDPM_N * rng.uniform((n,), dtype=x0.dtype)), xp.int64)
        i = xp.clip(i, 0, DDPM_N - 1)
        la = xp.take(xp.asarray(log_abar, dtype=x0.dtype, device=array_device(x0)), i)
        z = rng.normal(tuple(x0.shape), dtype=x0.dtype)
        x = xp.reshape(xp.exp(0.5 * la), (n, 1)) * x0 + xp.reshape(xp.sqrt(-xp.expm1(la)), (n, 1)) * z
        err = (eps_model(x, i) - z) ** 2
        per = xp.mean(err, axis=1) if reduction == "mean" else xp.sum(err, axis=1)
        return xp.mean(per)

    return loss


def bpd_from_loglik(*, nats: bool = False) -> Callable[..., Any]:
    """bits/dim of data in [-1, 1) (scale 2, 256 bins) from the PF-ODE log-likelihood: -(log p + D log(2/256)) / (D log 2);
    ``nats``: per dimension in nats (the slip)."""
    loglik = pf_loglik("vp")

    def bpd(score_fn: Any, y: Any) -> Any:
        d = y.shape[1]
        total = -(loglik(score_fn, y) + d * math.log(2.0 / 256.0))
        return total / d if nats else total / (d * math.log(2.0))

    return bpd


# ---- the catalogue -------------------------------------------------------------------------------------
_EM = {"sde_sampler": {"method": "euler_maruyama", "n_steps": SDE_STEPS}}
_EULER = {"ode_sampler": {"method": "euler", "n_steps": ODE_STEPS}}
_HEUN = {"ode_sampler": {"method": "heun", "n_steps": ODE_STEPS}}
_DSM = {"dsm_loss": {"weighting": "sigma2", "eps": EPS_LOSS}}
_HUTCH = {"log_likelihood": {"stochastic": True}}
_F32 = {"log_likelihood": {"dtype": "float32"}}
_DDPM = {"ddpm_loss": {"timesteps": "index"}}
_BPD = {"bits_per_dim": {"scale": 2.0}}


def _lazy(factory: Callable[..., Any], **kw: Any) -> Any:
    """A candidate built fresh (new seed counter) each time the implementation object is built."""
    return lambda: factory(**kw)


def _build(kind: str, options: dict, **attrs: Callable[[], Any]) -> Callable[[], SimpleNamespace]:
    return lambda: SimpleNamespace(reference=_ref(kind), check_options=options, **{k: v() for k, v in attrs.items()})


MACHINERY_CONTROLS: dict[str, Callable[[], SimpleNamespace]] = {
    "vp_machinery": _build(
        "vp", {**_EM, **_HEUN, **_DSM}, sde_sampler=_lazy(em_sampler), ode_sampler=_lazy(pf_ode_sampler, method="heun"),
        corrector=_lazy(langevin_step), dsm_loss=_lazy(dsm_vp_sigma2), log_likelihood=_lazy(pf_loglik, kind="vp"),
    ),
    "vp_pf_ode_euler": _build("vp", _EULER, ode_sampler=_lazy(pf_ode_sampler, method="euler")),
    "vp_loglik_hutchinson": _build("vp", _HUTCH, log_likelihood=_lazy(pf_loglik, kind="vp", probes="gaussian")),
    "ve_loglik": _build("ve", {}, log_likelihood=_lazy(pf_loglik, kind="ve")),
    # a float32 FD divergence with a step of 0.1 (exact for a linear score) stays inside the float32 tolerance
    "vp_loglik_float32": _build("vp", _F32, log_likelihood=_lazy(pf_loglik, kind="vp", fd_h=0.1)),
    "vp_drifts": _build("vp", {}, pf_ode_drift=_lazy(vp_drift), reverse_drift=_lazy(vp_drift, weight=1.0)),
    "vp_ddpm_loss": _build("vp", _DDPM, ddpm_loss=_lazy(ddpm_eps_loss)),
    "vp_bits_per_dim": _build("vp", _BPD, bits_per_dim=_lazy(bpd_from_loglik)),
}


def _m(name: str, bug: str, intended: str, sde_kind: str, attr: str, options: dict, factory: Callable[..., Any],
       **kw: Any) -> Mutant:
    return Mutant(name, bug, intended, _build(sde_kind, options, **{attr: _lazy(factory, **kw)}))


MACHINERY_MUTANTS: list[Mutant] = [
    _m("em_drift_g_not_g2", "reverse-SDE drift f x - g s instead of f x - g^2 s",
       "check_sde_sampler", "vp", "sde_sampler", _EM, em_sampler, g_not_g2=True),
    _m("em_dt_sign", "reverse step x + (f x - g^2 s) h: dt with the wrong sign",
       "check_sde_sampler", "vp", "sde_sampler", _EM, em_sampler, dt_sign=-1.0),
    _m("em_coefficients_right_end", "f, g^2 and the score at t_{k+1} (grid shifted one step), method=euler_maruyama",
       "check_sde_sampler", "vp", "sde_sampler", _EM, em_sampler, right_end=True),
    _m("em_noise_missing_sqrt_dt", "noise g z instead of g sqrt(dt) z",
       "check_sde_sampler", "vp", "sde_sampler", _EM, em_sampler, sqrt_dt=False),
    _m("em_no_noise_last_step", "noise omitted on the last step (the check expects it on every step)",
       "check_sde_sampler", "vp", "sde_sampler", _EM, em_sampler, last_noise=False),
    _m("pf_ode_missing_half", "PF-ODE drift f x - g^2 s (missing 1/2), Euler",
       "check_ode_sampler", "vp", "ode_sampler", _EULER, pf_ode_sampler, method="euler", half=1.0),
    _m("heun_second_stage_wrong_time", "Heun's second evaluation at t_k instead of t_{k+1}",
       "check_ode_sampler", "vp", "ode_sampler", _HEUN, pf_ode_sampler, method="heun", heun_wrong_time=True),
    _m("langevin_noise_sqrt_e", "Langevin noise sqrt(e) z instead of sqrt(2 e) z",
       "check_corrector", "vp", "corrector", {}, langevin_step, noise_factor=1.0),
    _m("langevin_ignores_score", "corrector x + sqrt(2 e) z that never uses the score",
       "check_corrector", "vp", "corrector", {}, langevin_step, use_score=False),
    _m("dsm_target_sign", "DSM target |s - z / sigma|^2 instead of |s + z / sigma|^2",
       "check_dsm_loss", "vp", "dsm_loss", _DSM, dsm_vp_sigma2, target_sign=-1.0),
    _m("dsm_weight_sigma", "DSM weighting sigma_t instead of sigma_t^2",
       "check_dsm_loss", "vp", "dsm_loss", _DSM, dsm_vp_sigma2, weight_power=1.0),
    _m("dsm_t_uniform_0_T", "t ~ U(0, T) instead of U(eps, T) (eps = 1e-3 declared)",
       "check_dsm_loss", "vp", "dsm_loss", _DSM, dsm_vp_sigma2, t_low=0.0),
    _m("loglik_divergence_sign", "log pi(x_T) - int div F dt (sign of the divergence integral)",
       "check_log_likelihood", "vp", "log_likelihood", {}, pf_loglik, kind="vp", div_sign=-1.0),
    _m("loglik_missing_2pi", "prior log-density without -(d/2) log(2 pi)",
       "check_log_likelihood", "vp", "log_likelihood", {}, pf_loglik, kind="vp", two_pi=False),
    _m("loglik_hutchinson_uniform_probes", "Hutchinson trace with U(0, 1) probes (E v v^T != I: biased)",
       "check_log_likelihood", "vp", "log_likelihood", _HUTCH, pf_loglik, kind="vp", probes="uniform01"),
    _m("loglik_ve_prior_standard_normal", "VE likelihood with prior N(0, I) instead of N(0, sigma_T^2 I)",
       "check_log_likelihood", "ve", "log_likelihood", {}, pf_loglik, kind="ve", prior_std=1.0),
    _m("pf_drift_g_not_g2", "PF drift f x - g s / 2 instead of f x - g^2 s / 2",
       "check_pf_ode_drift", "vp", "pf_ode_drift", {}, vp_drift, g_power=1.0),
    _m("pf_drift_weight_one", "PF drift f x - g^2 s (the reverse SDE's) instead of f x - g^2 s / 2",
       "check_pf_ode_drift", "vp", "pf_ode_drift", {}, vp_drift, weight=1.0),
    _m("reverse_drift_eps_as_score", "reverse drift with a noise prediction eps = -sigma s in place of the score",
       "check_reverse_drift", "vp", "reverse_drift", {}, vp_drift, weight=1.0, eps_as_score=True),
    _m("ddpm_loss_mean_reduction", "DDPM loss averaged over dimensions (F.mse_loss) where the sum was declared",
       "check_ddpm_loss", "vp", "ddpm_loss", _DDPM, ddpm_eps_loss, reduction="mean"),
    _m("bpd_in_nats", "bits/dim computed in nats (no division by log 2)",
       "check_bits_per_dim", "vp", "bits_per_dim", _BPD, bpd_from_loglik, nats=True),
    _m("loglik_fd_divergence_float32_cancellation",
       "central-difference divergence with a float64 step h = 1e-6 run in float32 (x +- h rounds, "
       "s(x + h) - s(x - h) cancels); the check runs in float32",
       "check_log_likelihood", "vp", "log_likelihood", _F32, pf_loglik, kind="vp", fd_h=1e-6),
]
