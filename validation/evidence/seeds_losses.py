"""The seed documents' training losses and likelihood computations re-implemented as candidates.

Signatures (those of :mod:`refsde.testing.check_loss` and :mod:`refsde.testing.check_likelihood`):

* ``loss_fn(score_fn, x0) -> scalar``          (x0 of shape (n, d));
* ``loglik_fn(score_fn, x) -> (n,)`` log p(x)  in nats.

The seeds call their network ``score_model(x, t)`` where the check's ``score_fn`` is used here.  Randomness
(t, z, Hutchinson probes) comes from ``backend_of(x0).rng(seed)``; a generator is made once per candidate,
so repeated calls draw fresh numbers.  Hutchinson's v^T (df/dx) v uses the backend's Jacobian-vector
product (autodiff on torch/JAX, a central difference on NumPy) where the seeds use ``torch.autograd.grad``.
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
MarginalFn = Callable[[Array, Array], tuple[Array, Array]]
ScoreFn = Callable[[Array, Array], Array]
LossFn = Callable[[ScoreFn, Array], Array]
LoglikFn = Callable[[ScoreFn, Array], Array]


class _Rng:
    """One backend generator per candidate, made on first use from the input's backend."""

    def __init__(self, seed: int) -> None:
        self.seed, self.rng = seed, None

    def get(self, x: Array) -> Any:
        if self.rng is None:
            self.rng = backend_of(x).rng(self.seed)
        return self.rng


def _col(xp: Any, c: Array, x: Array) -> Array:
    return xp.reshape(c, (c.shape[0],) + (1,) * (x.ndim - 1)) if c.ndim == 1 else c


# ---- losses ---------------------------------------------------------------------------------------------
def seed000_dsm_loss(marginal_fn: MarginalFn, T: float = 1.0, eps: float = 1e-5, seed: int = SEED) -> LossFn:
    """000 ``continuous_score_matching_loss``: t ~ U(eps, T), x_t = mean + std z, target -z/std,
    loss = mean_i sum_j (s - target)^2 -- *no* weighting (lambda = 1, the check's weighting "none"),
    although the seed's comment says "Weighted MSE loss".  With ``eps = 0`` this is 002's training
    algorithm ("t ~ Uniform(0, T)", plain ||s - grad log q||^2)."""
    gen = _Rng(seed)

    def loss_fn(score_fn: ScoreFn, x0: Array) -> Array:
        xp = array_namespace(x0)
        rng = gen.get(x0)
        t = rng.uniform((x0.shape[0],), low=0.0, high=1.0, dtype=x0.dtype) * (T - eps) + eps
        mean, std = marginal_fn(x0, t)
        std = _col(xp, std, x0)
        z = rng.normal(tuple(x0.shape), dtype=x0.dtype)
        x_t = mean + std * z
        target = -z / std  # grad log q(x_t | x0)
        return xp.mean(xp.sum((score_fn(x_t, t) - target) ** 2, axis=1))

    return loss_fn


def seed001_train_step_loss(marginal_fn: MarginalFn, seed: int = SEED, rescale: float = 1.0, eps: float = 0.0) -> LossFn:
    """001 ``SDEDiffusionModel.train_step``'s loss: t ~ U(0, 1), loss = mean_i 0.5 sum_j std^2 (s + z/std)^2
    (lambda = sigma^2 with score_sde's factor 1/2).  Errors: no eps, so t = 0 can be drawn, where the VP
    std is 0 and the target -z/std is infinite (0 * inf = NaN); and the 1/2 (score_sde's convention;
    the check's objective has none).  ``eps`` > 0 draws t ~ U(eps, 1); ``rescale`` multiplies the result
    (2 undoes the 1/2)."""
    gen = _Rng(seed)

    def loss_fn(score_fn: ScoreFn, x0: Array) -> Array:
        xp = array_namespace(x0)
        rng = gen.get(x0)
        t = rng.uniform((x0.shape[0],), low=0.0, high=1.0, dtype=x0.dtype) * (1.0 - eps) + eps
        mean, std = marginal_fn(x0, t)
        std = _col(xp, std, x0)
        z = rng.normal(tuple(x0.shape), dtype=x0.dtype)
        x_t = mean + std * z
        loss = 0.5 * ((score_fn(x_t, t) - (-z / std)) ** 2 * std**2)  # DSM weighted by std^2, times 1/2
        return rescale * xp.mean(xp.sum(loss, axis=-1))

    return loss_fn


# ---- likelihoods -----------------------------------------------------------------------------------------
def _pf_drift(sde_fn: SdeFn, score_fn: ScoreFn, x: Array, t: Array) -> Array:
    """Probability-flow drift f - g^2 s / 2 (Song et al. eq. 13)."""
    xp = array_namespace(x)
    f, g = sde_fn(x, t)
    return f - 0.5 * _col(xp, g, x) ** 2 * score_fn(x, t)


def seed001_log_likelihood(sde_fn: SdeFn, num_steps: int = 1000, hutchinson_samples: int = 10, seed: int = SEED,
                           fix_sign: bool = False) -> LoglikFn:
    """001 ``compute_log_likelihood``: Euler from t = 0 to 1 (dt = 1/num_steps), delta += tr_est dt with a
    Hutchinson estimate of div f~ (``hutchinson_samples`` Gaussian probes), prior N(0, I) (whatever the
    SDE), and log p = log N(z_T; 0, I) - delta.  The seed's error: the change of variables gives
    log p_0 = log p_T + int div f~ dt (Song et al. eq. 40), i.e. ``+ delta``.  ``fix_sign=True`` adds it."""
    gen = _Rng(seed)

    def loglik_fn(score_fn: ScoreFn, x: Array) -> Array:
        xp = array_namespace(x)
        be = backend_of(x)
        rng = gen.get(x)
        z, delta, dt = x, xp.zeros((x.shape[0],), dtype=x.dtype), 1.0 / num_steps
        for step in range(num_steps):
            t = xp.full((x.shape[0],), step / num_steps, dtype=x.dtype, device=x.device)
            fn = lambda y: _pf_drift(sde_fn, score_fn, y, t)  # noqa: E731
            drift = fn(z)
            trace = xp.zeros_like(delta)
            for _ in range(hutchinson_samples):
                v = rng.normal(tuple(z.shape), dtype=z.dtype)
                _, jv = be.jvp(fn, z, v)
                trace = trace + xp.sum(jv * v, axis=-1)  # v^T (df/dx) v
            z = z + drift * dt
            delta = delta + trace / hutchinson_samples * dt
        log_p_prior = -0.5 * xp.sum(z**2, axis=-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)  # N(0, I)
        return log_p_prior + delta if fix_sign else log_p_prior - delta  # seed: minus

    return loglik_fn


def seed004_log_likelihood(beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0, num_steps: int = 200,
                           seed: int = SEED, per_sample: bool = False, fix_sign: bool = False,
                           fix_constant: bool = False) -> LoglikFn:
    """004 ``compute_log_likelihood`` (VP): f~ = -beta (x + s)/2, one Hutchinson probe v, state = the
    *flattened batch* plus one scalar, so div = sum over the whole batch of v * (J v) and log p_T =
    -|x_T|^2/2 summed over the whole batch: one number for the batch, without the -(d/2) log(2 pi) of
    N(0, I), returned as log p_T - delta (sign error; eq. 40 has + delta).  The seed's ``ode_solve`` is
    undefined; here it is classical RK4 with ``num_steps`` steps from 0 to T.

    ``per_sample=True`` keeps the sums per sample (shape (n,)) so that the sign and the constant can be
    tested separately; ``fix_sign`` / ``fix_constant`` repair those two errors."""
    gen = _Rng(seed)

    def loglik_fn(score_fn: ScoreFn, x: Array) -> Array:
        xp = array_namespace(x)
        be = backend_of(x)
        v = gen.get(x).normal(tuple(x.shape), dtype=x.dtype)  # one probe for the whole solve
        axis = -1 if per_sample else None

        def rhs(t: float, y: Array) -> tuple[Array, Array]:
            tv = xp.full((x.shape[0],), t, dtype=x.dtype, device=x.device)
            beta = _col(xp, beta_min + tv * (beta_max - beta_min), x)
            fn = lambda u: -0.5 * beta * (u + score_fn(u, tv))  # noqa: E731  VP probability-flow drift
            f, jv = be.jvp(fn, y, v)
            return f, xp.sum(jv * v, axis=axis)

        y, delta, h = x, None, T / num_steps
        for k in range(num_steps):  # classical RK4 on (x, delta)
            t = k * h
            k1, d1 = rhs(t, y)
            k2, d2 = rhs(t + h / 2, y + h / 2 * k1)
            k3, d3 = rhs(t + h / 2, y + h / 2 * k2)
            k4, d4 = rhs(t + h, y + h * k3)
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            inc = h / 6 * (d1 + 2 * d2 + 2 * d3 + d4)
            delta = inc if delta is None else delta + inc
        log_p_T = -0.5 * xp.sum(y**2, axis=axis)
        if fix_constant:
            log_p_T = log_p_T - 0.5 * (x.shape[-1] if per_sample else x.shape[0] * x.shape[-1]) * math.log(2 * math.pi)
        return log_p_T + delta if fix_sign else log_p_T - delta

    return loglik_fn
