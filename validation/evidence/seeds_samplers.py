"""The seed documents' samplers and correctors re-implemented as candidates (errors included).

Signatures (those of :mod:`refsde.testing.check_samplers`):

* ``sampler_fn(score_fn, x_T, n_steps) -> x``  (reverse SDE or probability-flow ODE, x of shape (n, d));
* ``corrector_fn(score_fn, x, t) -> x'``       (one Langevin corrector step at time t).

``score_fn(x, t)`` is the check's exact score; the seeds call their own network ``score_model(x, t)`` in
its place.  The seeds draw x_T themselves; here it is given.  The seeds' samplers integrate down to t = 0
(not to the check's eps); that is kept.  The coefficients a sampler uses come from ``sde_fn(x, t) ->
(drift, diffusion)`` (e.g. the seed's own :func:`refsde_validation.evidence.seeds_sde.seed001_vp_sde`).  Noise is
drawn from ``backend_of(x).rng(seed)``, so the candidates are reproducible and stay in x's namespace.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from array_api_compat import array_namespace

from refsde.backends import backend_of

Array = Any
#: Default seed of the candidates' own noise; distinct from the checks' default seed 0, whose NumPy stream
#: (default_rng(0)) would otherwise equal the candidate's and correlate its noise with the check's inputs.
SEED = 2021
SdeFn = Callable[[Array, Array], tuple[Array, Array]]
ScoreFn = Callable[[Array, Array], Array]
SamplerFn = Callable[[ScoreFn, Array, int], Array]
CorrectorFn = Callable[[ScoreFn, Array, Any], Array]


def _tvec(xp: Any, x: Array, t: float) -> Array:
    """The time t as a (n,) array of x's dtype and device (the seeds' ``torch.full((n,), t)``)."""
    return xp.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)


def _g_col(xp: Any, g: Array, x: Array) -> Array:
    """A diffusion of shape (n,) or broadcastable to x, made broadcastable to x."""
    return xp.reshape(g, (g.shape[0],) + (1,) * (x.ndim - 1)) if g.ndim == 1 else g


class _Noise:
    """Standard normal draws like x from ``backend_of(x).rng(seed)``, the generator made on first use."""

    def __init__(self, seed: int) -> None:
        self.seed, self.rng = seed, None

    def like(self, x: Array) -> Array:
        if self.rng is None:
            self.rng = backend_of(x).rng(self.seed)
        return self.rng.normal(tuple(x.shape), dtype=x.dtype)


def _norm_all(xp: Any, a: Array) -> Array:
    """The Frobenius norm of the whole batch (torch's ``a.norm()`` without ``dim``)."""
    return xp.sqrt(xp.sum(a * a))


# ---- reverse-SDE samplers -----------------------------------------------------------------------------
def seed000_reverse_sde_sample(sde_fn: SdeFn, T: float = 1.0, seed: int = SEED) -> SamplerFn:
    """000 ``reverse_sde_sample``: dt = T/n; for i < n: t = T - i dt,
    x <- x - (f - g^2 s) dt + g sqrt(dt) z.  Euler-Maruyama of the reverse SDE (Song et al. eq. 6), to t = 0."""

    def sampler_fn(score_fn: ScoreFn, x_T: Array, n_steps: int) -> Array:
        xp = array_namespace(x_T)
        noise = _Noise(seed)
        x, dt = x_T, T / n_steps
        for i in range(n_steps):
            t = _tvec(xp, x, T - i * dt)
            f, g = sde_fn(x, t)
            g = _g_col(xp, g, x)
            drift = f - g**2 * score_fn(x, t)  # reverse drift f - g^2 s
            x = x - drift * dt + g * math.sqrt(dt) * noise.like(x)
        return x

    return sampler_fn


def seed001_reverse_sde_sample(beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0, seed: int = SEED) -> SamplerFn:
    """001 ``ReverseSDE.sample`` (VP only: g^2 = beta(t)): grid linspace(T, 0, n + 1), Euler-Maruyama,
    no noise on the last step."""

    def sampler_fn(score_fn: ScoreFn, x_T: Array, n_steps: int) -> Array:
        xp = array_namespace(x_T)
        noise = _Noise(seed)
        x, dt = x_T, T / n_steps
        for i in range(n_steps):
            t = _tvec(xp, x, T - i * T / n_steps)
            beta = xp.reshape(beta_min + t * (beta_max - beta_min), (-1, 1))
            drift = -0.5 * beta * x - beta * score_fn(x, t)  # f - g^2 s with g^2 = beta
            z = noise.like(x) if i < n_steps - 1 else xp.zeros_like(x)
            x = x - drift * dt + xp.sqrt(beta) * math.sqrt(dt) * z
        return x

    return sampler_fn


def _seed001_em_step(sde_fn: SdeFn, score_fn: ScoreFn, x: Array, t: float, dt: float, noise: "_Noise") -> Array:
    """001 ``euler_maruyama_step`` / ``PredictorCorrectorSampler.predictor_step``: noise only while t > dt."""
    xp = array_namespace(x)
    tv = _tvec(xp, x, t)
    f, g = sde_fn(x, tv)
    g = _g_col(xp, g, x)
    reverse_drift = f - g**2 * score_fn(x, tv)
    z = noise.like(x) if t > dt else xp.zeros_like(x)
    return x - reverse_drift * dt + g * math.sqrt(dt) * z


def seed001_euler_maruyama_sampler(sde_fn: SdeFn, seed: int = SEED) -> SamplerFn:
    """001 ``euler_maruyama_sampler``: dt = 1/n (T = 1 assumed), t = 1 - k dt, k < n."""

    def sampler_fn(score_fn: ScoreFn, x_T: Array, n_steps: int) -> Array:
        noise = _Noise(seed)
        x, dt = x_T, 1.0 / n_steps
        for k in range(n_steps):
            x = _seed001_em_step(sde_fn, score_fn, x, 1.0 - k * dt, dt, noise)
        return x

    return sampler_fn


def seed001_langevin_corrector(snr: float = 0.16, n_corrector: int = 1, seed: int = SEED) -> CorrectorFn:
    """001 ``PredictorCorrectorSampler.corrector_step``: e = 2 (snr / mean_i ||s_i||)^2 -- score_sde's
    e = 2 (snr ||z|| / ||s||)^2 without the noise norm ||z|| (~ sqrt(d)): the seed's error."""

    def corrector_fn(score_fn: ScoreFn, x: Array, t: Any) -> Array:
        xp = array_namespace(x)
        tv = t if hasattr(t, "shape") and getattr(t, "ndim", 0) == 1 else _tvec(xp, x, float(t))
        for _ in range(n_corrector):
            s = score_fn(x, tv)
            grad_norm = xp.mean(xp.sqrt(xp.sum(xp.reshape(s, (x.shape[0], -1)) ** 2, axis=-1)))
            e = (snr / grad_norm) ** 2 * 2  # seed: no noise norm
            x = x + e * s + xp.sqrt(2 * e) * noise.like(x)
        return x

    noise = _Noise(seed)
    return corrector_fn


def seed001_pc_sampler(sde_fn: SdeFn, snr: float = 0.16, seed: int = SEED) -> SamplerFn:
    """001 ``PredictorCorrectorSampler.sample``: per step, the seed's corrector at t, then its EM predictor."""

    def sampler_fn(score_fn: ScoreFn, x_T: Array, n_steps: int) -> Array:
        xp = array_namespace(x_T)
        noise = _Noise(seed + 1)
        corrector = seed001_langevin_corrector(snr, seed=seed + 2)
        x, dt = x_T, 1.0 / n_steps
        for k in range(n_steps):
            t = 1.0 - k * dt
            x = corrector(score_fn, x, _tvec(xp, x, t))
            x = _seed001_em_step(sde_fn, score_fn, x, t, dt, noise)
        return x

    return sampler_fn


def seed004_euler_maruyama_sampler(beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0,
                                   text_sign: bool = False, seed: int = SEED) -> SamplerFn:
    """004 ``euler_maruyama_step`` (VP) looped on 004's grid ``linspace(T, 0, num_steps)``, with
    num_steps = n_steps + 1 so that n_steps steps are taken: f = -beta x/2 - beta s, dt < 0,
    x <- x + f dt + sqrt(beta) sqrt(-dt) z (right).

    ``text_sign=True`` implements 004's *displayed* discretization instead,
    x_{t - dt} = x_t + [f - g^2 s] dt + g sqrt(dt) z with dt > 0 (the seed's sign error: the drift must
    be subtracted when stepping backwards, as in 000's and 001's formula)."""

    def sampler_fn(score_fn: ScoreFn, x_T: Array, n_steps: int) -> Array:
        xp = array_namespace(x_T)
        noise = _Noise(seed)
        x = x_T
        for i in range(n_steps):
            t0, t1 = T - i * T / n_steps, T - (i + 1) * T / n_steps
            tv = _tvec(xp, x, t0)
            beta = xp.reshape(beta_min + tv * (beta_max - beta_min), (-1, 1))
            f = -0.5 * beta * x - beta * score_fn(x, tv)  # reverse drift f - g^2 s
            z = noise.like(x)
            if text_sign:
                dt = t0 - t1
                x = x + f * dt + xp.sqrt(beta) * math.sqrt(dt) * z  # 004's displayed formula (wrong sign)
            else:
                dt = t1 - t0
                x = x + f * dt + xp.sqrt(beta) * math.sqrt(-dt) * z
        return x

    return sampler_fn


def seed004_langevin_corrector(snr: float = 0.16, seed: int = SEED, fix: bool = False) -> CorrectorFn:
    """004 ``predictor_corrector_sample``'s corrector: e = snr (||z|| / ||s||)^2 with norms over the whole
    batch -- score_sde's e = 2 (snr ||z|| / ||s||)^2 without the 2 and with snr not squared (the seed's
    error: with snr = 0.16 the step is 3.1 times too large).  ``fix=True`` uses 2 (snr ||z|| / ||s||)^2."""

    def corrector_fn(score_fn: ScoreFn, x: Array, t: Any) -> Array:
        xp = array_namespace(x)
        tv = t if hasattr(t, "shape") and getattr(t, "ndim", 0) == 1 else _tvec(xp, x, float(t))
        s = score_fn(x, tv)
        z = noise.like(x)
        ratio = _norm_all(xp, z) / _norm_all(xp, s)
        e = 2 * (snr * ratio) ** 2 if fix else snr * ratio**2  # score_sde: 2 (snr |z|/|s|)^2; seed: snr (|z|/|s|)^2
        return x + e * s + xp.sqrt(2 * e) * z

    noise = _Noise(seed)
    return corrector_fn


def seed004_pc_sampler(beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0, snr: float = 0.16,
                       seed: int = SEED, fix: bool = False) -> SamplerFn:
    """004 ``predictor_corrector_sample`` (VP): EM predictor to t_{i+1}, then 004's corrector at t_{i+1};
    grid linspace(T, 0, num_steps) with num_steps = n_steps + 1 (the last corrector runs at t = 0).
    ``fix=True`` uses the repaired corrector step (see :func:`seed004_langevin_corrector`)."""

    def sampler_fn(score_fn: ScoreFn, x_T: Array, n_steps: int) -> Array:
        xp = array_namespace(x_T)
        noise, corrector = _Noise(seed), seed004_langevin_corrector(snr, seed + 1, fix)
        x = x_T
        for i in range(n_steps):
            t0, t1 = T - i * T / n_steps, T - (i + 1) * T / n_steps
            tv = _tvec(xp, x, t0)
            beta = xp.reshape(beta_min + tv * (beta_max - beta_min), (-1, 1))
            f = -0.5 * beta * x - beta * score_fn(x, tv)  # 004's euler_maruyama_step, dt < 0
            x = x + f * (t1 - t0) + xp.sqrt(beta) * math.sqrt(t0 - t1) * noise.like(x)
            x = corrector(score_fn, x, _tvec(xp, x, t1))
        return x

    return sampler_fn


# ---- probability-flow ODE samplers --------------------------------------------------------------------
def _pf_drift(sde_fn: SdeFn, score_fn: ScoreFn, x: Array, t: Array) -> Array:
    """001 ``ProbabilityFlowODE.drift``: f - g^2 s / 2 (Song et al. eq. 13)."""
    xp = array_namespace(x)
    f, g = sde_fn(x, t)
    return f - 0.5 * _g_col(xp, g, x) ** 2 * score_fn(x, t)


def seed001_sample_ode(sde_fn: SdeFn, method: str = "euler") -> SamplerFn:
    """001 ``ProbabilityFlowODE.sample_ode``: dt = -1/n, t = 1 - k/n, and

    * euler: x <- x + drift(x, t) (-dt) -- a step *forwards* in time while t decreases (sign error);
    * rk4:   ``_rk4_step(x, t, -dt)``: RK4 with step +1/n, evaluating at t + h/2 and t + h (> T at the
      first step), i.e. the same sign error.  (The seed passes t as a Python float, which its
      ``.unsqueeze`` cannot take; here t is broadcast to (n,) so that the numerical error is what is tested.)"""

    def sampler_fn(score_fn: ScoreFn, x_T: Array, n_steps: int) -> Array:
        xp = array_namespace(x_T)
        dt = -1.0 / n_steps
        x = x_T
        drift = lambda y, s: _pf_drift(sde_fn, score_fn, y, _tvec(xp, y, s))  # noqa: E731
        for k in range(n_steps):
            t = 1.0 - k / n_steps
            if method == "euler":
                x = x + drift(x, t) * (-dt)
            else:
                h = -dt
                k1 = drift(x, t)
                k2 = drift(x + 0.5 * h * k1, t + 0.5 * h)
                k3 = drift(x + 0.5 * h * k2, t + 0.5 * h)
                k4 = drift(x + h * k3, t + h)
                x = x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        return x

    return sampler_fn


def seed004_euler_ode_sampler(beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0) -> SamplerFn:
    """004 ``euler_ode_step`` (VP): dx/dt = -beta (x + s)/2, x <- x + dx/dt dt with dt < 0; grid
    linspace(T, 0, n + 1).  Right (Song et al. eq. 13 for the VP-SDE)."""

    def sampler_fn(score_fn: ScoreFn, x_T: Array, n_steps: int) -> Array:
        xp = array_namespace(x_T)
        x = x_T
        for i in range(n_steps):
            t0, t1 = T - i * T / n_steps, T - (i + 1) * T / n_steps
            tv = _tvec(xp, x, t0)
            beta = xp.reshape(beta_min + tv * (beta_max - beta_min), (-1, 1))
            x = x + (-0.5 * beta * (x + score_fn(x, tv))) * (t1 - t0)
        return x

    return sampler_fn
