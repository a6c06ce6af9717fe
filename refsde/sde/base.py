"""Base class of the linear SDEs dx = f(t) x dt + g(t) dw used by score-based diffusion models.

Every SDE here has a scalar linear drift, so q(x_t | x_0) = N(alpha_t x_0, sigma_t^2 I) and the whole
process is fixed by the schedule (alpha_t, sigma_t):  f(t) = d log alpha_t / dt and
g(t)^2 = d sigma_t^2 / dt - 2 f(t) sigma_t^2  (Song et al. 2021, eq. 5.50 of Sarkka & Solin 2019).

Subclasses implement the private coefficient methods on already-validated time arrays; the public
methods validate, broadcast and keep the caller's namespace, dtype and device.
"""

from __future__ import annotations

import abc
import math
import numbers
import operator
from typing import Any, Callable

from array_api_compat import device as device_of

from .._arrays import (
    Array,
    as_time,
    batch_broadcast,
    check_finite,
    host_array,
    n_features,
    namespace_of,
    require_floating,
    sum_non_batch,
)
from .._checks import check_positive
from .reverse import ReverseSDE

ScoreFn = Callable[[Array, Array], Array]


class SDE(abc.ABC):
    """Forward SDE ``dx = f(t) x dt + g(t) dw`` on [0, T] with Gaussian transition kernels.

    Shapes: ``x`` is batch-first, (n, *dims); ``t`` is a float, a 0-d array or shape (n,).
    Coefficient methods of ``t`` alone return arrays of ``t``'s shape; methods taking ``x`` return
    per-sample coefficients broadcast to (n, 1, ..., 1).
    """

    #: Number of discrete steps used by :meth:`discretize` (score_sde's ``N``).
    N: int

    def __init__(self, T: float = 1.0, N: int = 1000) -> None:
        self.T = check_positive("T", T)
        if int(N) != N or N < 2:
            raise ValueError(f"N must be an integer >= 2, got {N}")
        self.N = int(N)

    # ---- to implement: closed forms on validated arrays --------------------------------------
    @abc.abstractmethod
    def _log_alpha(self, t: Array) -> Array:
        """log alpha_t (log of the mean scale of q(x_t | x_0))."""

    @abc.abstractmethod
    def _sigma(self, t: Array) -> Array:
        """sigma_t, the std of q(x_t | x_0)."""

    def _log_sigma(self, t: Array) -> Array:
        return namespace_of(t).log(self._sigma(t))

    @abc.abstractmethod
    def _drift_coef(self, t: Array) -> Array:
        """f(t) = d log alpha_t / dt, so that the drift is f(t) x."""

    @abc.abstractmethod
    def _g2(self, t: Array) -> Array:
        """g(t)^2."""

    @abc.abstractmethod
    def _t_from_log_snr(self, lam: Array) -> Array:
        """Inverse of lambda_t = log(alpha_t^2 / sigma_t^2)."""

    @property
    @abc.abstractmethod
    def prior_std(self) -> float:
        """Standard deviation of the prior N(0, prior_std^2 I) that stands in for p_T."""

    # ---- time-only coefficients ---------------------------------------------------------------
    def _t(self, t: Any, like: Array | None = None) -> Array:
        return as_time(t, self.T, like=like)

    def log_alpha(self, t: Any) -> Array:
        """log alpha_t, shape of ``t``."""
        return self._log_alpha(self._t(t))

    def alpha(self, t: Any) -> Array:
        """Signal scale alpha_t: E[x_t | x_0] = alpha_t x_0.  Shape of ``t``."""
        t = self._t(t)
        return namespace_of(t).exp(self._log_alpha(t))

    def sigma(self, t: Any) -> Array:
        """Std sigma_t of q(x_t | x_0).  Shape of ``t``."""
        return self._sigma(self._t(t))

    def marginal_coefficients(self, t: Any) -> tuple[Array, Array]:
        """(alpha_t, sigma_t): q(x_t | x_0) = N(alpha_t x_0, sigma_t^2 I).  Each of ``t``'s shape."""
        t = self._t(t)
        return namespace_of(t).exp(self._log_alpha(t)), self._sigma(t)

    def log_snr(self, t: Any) -> Array:
        """lambda_t = log(alpha_t^2 / sigma_t^2) (decreasing in t; +inf where sigma_t = 0)."""
        t = self._t(t)
        return 2.0 * (self._log_alpha(t) - self._log_sigma(t))

    def t_from_log_snr(self, lam: Any) -> Array:
        """Inverse of :meth:`log_snr`; ``lam`` outside [lambda_T, lambda_0] raises ValueError."""
        xp = namespace_of(lam)
        if xp is None:
            from ..backends import get_backend

            backend = get_backend()
            xp, lam = backend.xp, backend.asarray(float(lam))
        elif not xp.isdtype(lam.dtype, "real floating"):
            lam = xp.astype(lam, xp.float64)
        check_finite(xp, lam, "lambda")
        t = self._t_from_log_snr(lam)
        # Rounding of lambda moves the inverse by a few ulps (a float32 lambda_T gave t = T (1 + 7 eps));
        # only values beyond that slack are out of range.  The slack is symmetric at 0 and T.
        tol = self.T * max(1e-12, 64.0 * float(xp.finfo(t.dtype).eps))
        if bool(xp.any(xp.isnan(t))) or bool(xp.any((t < -tol) | (t > self.T + tol))):
            raise ValueError(f"log-SNR outside the range of this SDE on [0, {self.T}]")
        return xp.clip(t, 0.0, self.T)

    def t_from_sigma(self, sigma: Any) -> Array:
        """The time whose EDM noise level sigma_t / alpha_t (Karras et al. 2022, eq. 4 with s = alpha) equals
        ``sigma`` >= 0: t_lambda(-2 log sigma), so that sigma-space grids (Karras rho grids, k-diffusion,
        diffusers' sigmas) convert in one call.  sigma = 0 is t = 0 where sigma_0 = 0; values outside
        [sigma~(0), sigma~(T)] raise ValueError (as :meth:`t_from_log_snr`)."""
        xp = namespace_of(sigma)
        if xp is None:
            from ..backends import get_backend

            backend = get_backend()
            xp, sigma = backend.xp, backend.asarray(float(sigma))
        elif not xp.isdtype(sigma.dtype, "real floating"):
            sigma = xp.astype(sigma, xp.float64)
        check_finite(xp, sigma, "sigma")
        if bool(xp.any(sigma < 0)):
            raise ValueError("sigma must be >= 0 (an EDM noise level sigma_t / alpha_t)")
        positive = sigma > 0
        safe = xp.where(positive, sigma, xp.ones_like(sigma))
        lam = xp.where(positive, -2.0 * xp.log(safe), xp.full_like(sigma, math.inf))  # log-SNR = -2 log sigma~
        return self.t_from_log_snr(lam)

    def edm_sigma(self, t: Any) -> Array:
        """The EDM noise level sigma~_t = sigma_t / alpha_t (the std of x_t / alpha_t given x_0), shape of ``t``."""
        t = self._t(t)
        return self._sigma(t) / namespace_of(t).exp(self._log_alpha(t))

    def _extended_marginal(self, t: Array) -> tuple[Array, Array]:
        """(alpha_t, sigma_t) at times t >= 0 that may lie beyond T, where the closed forms extend (VP, sub-VP,
        VE and EDM-type schedules do); ValueError where they do not (a tabulated schedule).  ``t`` is an array
        already checked for NaN and t >= 0 by the caller (the conformance checks' exact score)."""
        return namespace_of(t).exp(self._log_alpha(t)), self._sigma(t)

    def diffusion(self, t: Any) -> Array:
        """g(t), shape of ``t``."""
        g2 = self._g2(self._t(t))
        return namespace_of(g2).sqrt(g2)

    def diffusion_squared(self, t: Any) -> Array:
        """g(t)^2 (computed directly, not by squaring g), shape of ``t``."""
        return self._g2(self._t(t))

    def drift_coefficient(self, t: Any) -> Array:
        """f(t) = d log alpha_t / dt, so the drift is f(t) x.  Shape of ``t``."""
        return self._drift_coef(self._t(t))

    # ---- functions of x -------------------------------------------------------------------------
    def _x_t(self, x: Array, t: Any) -> tuple[Any, Array]:
        xp = namespace_of(x, t)
        if xp is None:
            raise TypeError("x must be an array")
        require_floating(xp, x, "x")
        check_finite(xp, x, "x")
        return xp, self._t(t, like=x)

    def drift(self, x: Array, t: Any) -> Array:
        """f(x, t) = f(t) x, same shape as ``x``."""
        _, t = self._x_t(x, t)
        return batch_broadcast(self._drift_coef(t), x) * x

    def sde(self, x: Array, t: Any) -> tuple[Array, Array]:
        """(drift f(x, t), diffusion g(t)) as in score_sde; g has ``t``'s shape."""
        xp, t = self._x_t(x, t)
        return batch_broadcast(self._drift_coef(t), x) * x, xp.sqrt(self._g2(t))

    def marginal(self, x0: Array, t: Any) -> tuple[Array, Array]:
        """(mean, std) of q(x_t | x_0): mean = alpha_t x0 (shape of x0), std = sigma_t broadcast to
        (n, 1, ..., 1) when ``t`` has shape (n,), else 0-d."""
        xp, t = self._x_t(x0, t)
        mean = batch_broadcast(xp.exp(self._log_alpha(t)), x0) * x0
        return mean, batch_broadcast(self._sigma(t), x0)

    def perturb(self, x0: Array, t: Any, noise: Array) -> Array:
        """x_t = alpha_t x0 + sigma_t noise (a draw from q(x_t | x0) when noise ~ N(0, I))."""
        mean, std = self.marginal(x0, t)
        if tuple(noise.shape) != tuple(x0.shape):
            raise ValueError(f"noise shape {tuple(noise.shape)} differs from x0 shape {tuple(x0.shape)}")
        namespace_of(x0, noise)
        return mean + std * noise

    # ---- prior --------------------------------------------------------------------------------------
    def prior_sample(self, shape: tuple[int, ...], rng: Any = None, *, backend: Any = None, dtype: Any = None) -> Array:
        """Draw from the prior N(0, prior_std^2 I); ``rng`` is an int seed, a refsde RNG or None."""
        from ..backends import make_rng

        gen = make_rng(rng, backend)
        return self.prior_std * gen.normal(tuple(shape), dtype=dtype)

    def prior_logp(self, z: Array) -> Array:
        """log N(z; 0, prior_std^2 I) per sample, summed over all non-batch dims: shape (n,)."""
        xp = namespace_of(z)
        if xp is None:
            raise TypeError("z must be an array")
        require_floating(xp, z, "z")
        check_finite(xp, z, "z")
        if z.ndim < 1:
            raise ValueError("z must have a batch dimension")
        s2 = self.prior_std**2
        d = n_features(z)
        # log N(z; 0, s^2 I) = -|z|^2 / (2 s^2) - (d/2) log(2 pi s^2)
        return -sum_non_batch(xp, z * z) / (2.0 * s2) - 0.5 * d * math.log(2.0 * math.pi * s2)

    # ---- reverse time and discretization --------------------------------------------------------------
    def reverse(self, score_fn: ScoreFn, probability_flow: bool = False) -> ReverseSDE:
        """The reverse-time SDE (Anderson 1982) or, with ``probability_flow``, the probability-flow ODE."""
        return ReverseSDE(self, score_fn, probability_flow=probability_flow)

    def chain_times(self, N: int | None = None, *, like: Array | None = None) -> Array:
        """t_i = i T / (N - 1), i = 0..N-1: the times of the discrete chain with N levels (score_sde's
        ``discretize``), shape (N,).

        The one definition of the chain times (the DDPM betas, the SMLD levels, the samplers' chain tables
        and the discrete losses use it): computed as Python floats and rounded once to ``like``'s dtype, in
        ``like``'s namespace and device (the active backend's default float dtype without ``like``).
        ``N`` defaults to ``self.N``.
        """
        N = self._chain_length(N)
        return host_array([i * (self.T / (N - 1)) for i in range(N)], like)  # t_i = i T / (N - 1)

    def discretize(self, x: Array, t: Any, *, N: int | None = None, level: Any = None) -> tuple[Array, Array]:
        """One step of the discrete chain x_{i+1} = x_i + f_i + G_i z (Song et al. 2021, App. D).

        Default: Euler-Maruyama with dt = T / N, i.e. f_i = f(x, t) dt and G_i = g(t) sqrt(dt).
        VP and VE override it with the DDPM and SMLD transitions.  Returns (f_i like x, G_i like t).

        Keywords (shared by every SDE):

        * ``N``: chain length, overriding ``self.N`` (an int >= 2).
        * ``level``: the chain level i (a Python int or an integer array of shape () or (n,), each in
          [0, N)), overriding score_sde's index i = floor(t (N - 1) / T).  The VP and VE chains are
          indexed by level, so there ``t`` only fixes namespace, dtype and shape; the Euler-Maruyama
          chain here is a function of t itself, so ``level`` is checked but does not change it.

        With both None this is score_sde's ``sde.discretize(x, t)``.  Bad ``N`` or ``level`` (non-integer,
        out of range) raise ValueError.
        """
        xp, t = self._x_t(x, t)
        N = self._chain_length(N)
        if level is not None:
            self._chain_level(x, t, N, level)  # validated only: Euler-Maruyama is evaluated at t
        dt = self.T / N
        return batch_broadcast(self._drift_coef(t), x) * x * dt, xp.sqrt(self._g2(t) * dt)

    def _chain_length(self, N: Any) -> int:
        """``N`` as an int >= 2, or ``self.N`` when None."""
        if N is None:
            return self.N
        if isinstance(N, bool):
            raise ValueError(f"N must be an integer >= 2, got {N!r}")
        try:
            n = operator.index(N)
        except TypeError:
            raise ValueError(f"N must be an integer >= 2, got {N!r}") from None
        if n < 2:
            raise ValueError(f"N must be an integer >= 2, got {n}")
        return int(n)

    def _chain_level(self, x: Array, t: Array, N: int, level: Any) -> Array:
        """The chain level i as a float array of t's dtype and device, broadcast against ``t``.

        ``level`` None: score_sde's floor(t (N - 1) / T).  Else a Python int or an integer array of
        shape () or (n,) (n = x's batch size) with every entry in [0, N) (ValueError otherwise).
        """
        xp = namespace_of(t)
        if level is None:
            return xp.floor(t * ((N - 1) / self.T))  # score_sde's index floor(t (N - 1) / T)
        if isinstance(level, numbers.Integral) and not isinstance(level, bool):  # int, numpy integer scalars
            i = operator.index(level)
            if not 0 <= i < N:
                raise ValueError(f"level must be an integer in [0, N) = [0, {N}), got {i}")
            return xp.full(t.shape, float(i), dtype=t.dtype, device=device_of(t))
        if isinstance(level, (bool, float, complex, str)) or not hasattr(level, "ndim"):  # also NumPy floats
            raise ValueError(f"level must be an integer in [0, N) = [0, {N}) or an integer array, got {level!r}")
        lv_xp = namespace_of(t, level)
        if not lv_xp.isdtype(level.dtype, "integral"):
            raise ValueError(f"level must be an integer array, got dtype {level.dtype}")
        batch = x.shape[0] if x.ndim >= 1 else 1
        if level.ndim > 1 or (level.ndim == 1 and level.shape[0] not in (1, batch)):
            raise ValueError(f"level must have shape () or (n,) with n = {batch} (x's batch), got {tuple(level.shape)}")
        if bool(xp.any((level < 0) | (level >= N))):
            lo, hi = int(xp.min(level)), int(xp.max(level))
            raise ValueError(f"level must lie in [0, N) = [0, {N}), got values in [{lo}, {hi}]")
        i = xp.astype(level, t.dtype)
        return i + xp.zeros_like(t)  # broadcast against t: shape () or (n,)

    @staticmethod
    def _at_level(table: Array, i: Array) -> Array:
        """``table[i]`` for a float array ``i`` of integer values (shape () or (n,)): the entry of each level."""
        xp = namespace_of(table, i)
        idx = xp.reshape(xp.astype(i, xp.int32), (-1,))
        return xp.reshape(xp.take(table, idx, axis=0), tuple(i.shape))

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self) -> dict[str, Any]:
        return {"T": self.T}
