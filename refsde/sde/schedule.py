"""A linear SDE defined by any schedule (alpha_t, sigma_t), with f and g^2 derived from it, and the schedules as
users have them: a discrete alphas_cumprod table (:class:`TabulatedSchedule`) and EDM's sigma space
(:class:`EDMSchedule`)."""

from __future__ import annotations

import math
from typing import Any, Callable

from .._arrays import Array, namespace_of
from .._checks import check_positive
from .base import SDE

ScheduleFn = Callable[[Array], Array]


class ScheduleSDE(SDE):
    """dx = f(t) x dt + g(t) dw whose marginals are q(x_t | x_0) = N(alpha(t) x_0, sigma(t)^2 I).

    f(t) = alpha'(t) / alpha(t) and g(t)^2 = d sigma(t)^2/dt - 2 f(t) sigma(t)^2
    (Kingma et al. 2021, eq. 17 of VDM; Karras et al. 2022, eq. 4), so any monotone schedule is one line:

    >>> import math
    >>> cosine = ScheduleSDE(alpha=lambda t: xp.cos(0.5 * math.pi * (t + 0.008) / 1.008),
    ...                      sigma=lambda t: xp.sin(0.5 * math.pi * (t + 0.008) / 1.008))  # doctest: +SKIP
    >>> edm = ScheduleSDE(alpha=lambda t: 1.0 + 0.0 * t, sigma=lambda t: t, T=80.0)     # doctest: +SKIP

    ``alpha`` and ``sigma`` take and return arrays (any Array-API namespace) and must be smooth on
    [0, T] with alpha > 0, sigma >= 0 and a decreasing log-SNR.  Their derivatives are ``dalpha`` /
    ``dsigma`` if given, else a fourth-order finite difference evaluated in float64: step h = 1e-4 T,
    shrinking to t/3 near 0 so coefficients that vanish like a power of t keep relative accuracy;
    sigma^2, not sigma, is differenced; one-sided stencils near 0 and T, so only [0, T] is evaluated.
    Measured against the closed forms of VP, sub-VP and VE on [1e-6 T, T]: g^2 within 6e-10 and f
    within 5e-9 relative.  ``prior_std`` defaults to sigma(T).  :meth:`discretize` is Euler-Maruyama.
    """

    def __init__(
        self,
        alpha: ScheduleFn,
        sigma: ScheduleFn,
        T: float = 1.0,
        *,
        dalpha: ScheduleFn | None = None,
        dsigma: ScheduleFn | None = None,
        prior_std: float | None = None,
        N: int = 1000,
        name: str | None = None,
    ) -> None:
        super().__init__(T=T, N=N)
        for label, fn in (("alpha", alpha), ("sigma", sigma), ("dalpha", dalpha), ("dsigma", dsigma)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{label} must be callable on arrays of t")
        self._alpha_fn, self._sigma_fn = alpha, sigma
        self._dalpha_fn, self._dsigma_fn = dalpha, dsigma
        self._prior_std = None if prior_std is None else check_positive("prior_std", prior_std)
        self.name = name
        self._validated = False  # the schedule is checked on a grid the first time it is used (_validate)

    @classmethod
    def from_alphas_cumprod(cls, alphas_cumprod: Any, *, times: Any = None, interpolation: str = "log_alpha",
                            name: str | None = None) -> "TabulatedSchedule":
        """The VP-type schedule of a discrete ``alphas_cumprod`` table (DDPM, diffusers' ``scheduler.alphas_cumprod``):
        entry i at ``times[i]`` (default (i + 1) / N), clean data at t = 0, interpolated by ``interpolation``
        (``"log_alpha"``: DPM-Solver's; ``"sigma"``: diffusers' Euler / Heun).  See :class:`TabulatedSchedule`."""
        return TabulatedSchedule(alphas_cumprod, times=times, interpolation=interpolation, name=name)

    @classmethod
    def edm(cls, sigma_max: float = 80.0, name: str | None = None) -> "EDMSchedule":
        """EDM's / k-diffusion's sigma-space SDE: alpha = 1, sigma_t = t on [0, sigma_max], exact coefficients
        (f = 0, g^2 = 2 t).  See :class:`EDMSchedule`."""
        return EDMSchedule(sigma_max=sigma_max, name=name)

    def _params(self) -> dict[str, Any]:
        return {"name": self.name, "T": self.T}

    #: Points of the grid on which a user schedule is checked before its first use.
    VALIDATION_POINTS = 65

    def _t(self, t: Any, like: Array | None = None) -> Array:
        out = super()._t(t, like=like)
        if not self._validated:
            self._validate(out)
        return out

    def _validate(self, like: Array) -> None:
        """alpha > 0, sigma >= 0, both finite, and a strictly decreasing log-SNR log(alpha^2 / sigma^2) on
        linspace(0, T, 65), in the namespace and on the device of the first time array the schedule is used with
        (a schedule written with one library's functions is checked under that library); ValueError naming the
        condition and the first time where it fails."""
        self._validated = True
        xp = namespace_of(like)
        from array_api_compat import device as device_of

        from .._arrays import host_floats

        try:
            grid = xp.linspace(0.0, self.T, self.VALIDATION_POINTS, dtype=like.dtype, device=device_of(like))
            alpha, sigma = self._call(self._alpha_fn, grid), self._call(self._sigma_fn, grid)
            a, sg = host_floats(alpha), host_floats(sigma)
        except Exception:  # this array's library is not the schedule's, or a tracer: check at the next use
            self._validated = False
            return
        ts = [i * self.T / (self.VALIDATION_POINTS - 1) for i in range(self.VALIDATION_POINTS)]
        for i, (t, ai, si) in enumerate(zip(ts, a, sg)):
            if not (math.isfinite(ai) and math.isfinite(si)):
                raise ValueError(f"schedule {self!r}: alpha(t) and sigma(t) must be finite; at t = {t}: "
                                 f"alpha = {ai}, sigma = {si}")
            if not ai > 0.0:
                raise ValueError(f"schedule {self!r}: alpha(t) must be > 0; alpha({t}) = {ai}")
            if not si >= 0.0:
                raise ValueError(f"schedule {self!r}: sigma(t) must be >= 0; sigma({t}) = {si}")
        lam = [2.0 * (math.log(ai) - math.log(si)) if si > 0.0 else math.inf for ai, si in zip(a, sg)]
        for i in range(1, len(lam)):
            if not lam[i] < lam[i - 1]:
                raise ValueError(f"schedule {self!r}: the log-SNR log(alpha^2 / sigma^2) must decrease in t; it is "
                                 f"{lam[i - 1]} at t = {ts[i - 1]} and {lam[i]} at t = {ts[i]}")

    def _call(self, fn: ScheduleFn, t: Array) -> Array:
        xp = namespace_of(t)
        out = fn(t)
        if isinstance(out, (int, float)):
            out = xp.full_like(t, float(out))
        if tuple(out.shape) != tuple(t.shape):
            out = xp.broadcast_to(out, t.shape)
        return out if out.dtype == t.dtype else xp.astype(out, t.dtype)

    def _derivative(self, fn: ScheduleFn, t: Array) -> Array:
        """Fourth-order finite difference of ``fn`` at ``t``, evaluated in float64 where available."""
        xp = namespace_of(t)
        wide = t
        if t.dtype != xp.float64:
            try:
                wide = xp.astype(t, xp.float64)
            except Exception:  # backends without float64 (e.g. MPS)
                wide = t
        # Step: 1e-3 T in the interior, shrinking to t/3 near t = 0 (floor 1e-6 T) so that coefficients that
        # vanish like a power of t (sub-VP g^2 ~ t) keep their relative accuracy; one-sided stencils where the
        # central one would leave [0, T].
        h_max, h_min = 1e-4 * self.T, 1e-6 * self.T
        h = xp.clip(wide / 3.0, h_min, h_max)

        def f(k: float) -> Array:
            return self._call(fn, xp.clip(wide + k * h, 0.0, self.T))

        # central: (f(-2) - 8 f(-1) + 8 f(1) - f(2)) / (12 h); one-sided 5-point at the ends
        central = (f(-2) - 8.0 * f(-1) + 8.0 * f(1) - f(2)) / (12.0 * h)
        forward = (-25.0 * f(0) + 48.0 * f(1) - 36.0 * f(2) + 16.0 * f(3) - 3.0 * f(4)) / (12.0 * h)
        backward = (25.0 * f(0) - 48.0 * f(-1) + 36.0 * f(-2) - 16.0 * f(-3) + 3.0 * f(-4)) / (12.0 * h)
        lo, hi = wide < 2.0 * h, wide > self.T - 2.0 * h
        d = xp.where(lo, forward, xp.where(hi, backward, central))
        return d if d.dtype == t.dtype else xp.astype(d, t.dtype)

    def _dalpha(self, t: Array) -> Array:
        return self._call(self._dalpha_fn, t) if self._dalpha_fn else self._derivative(self._alpha_fn, t)

    def _dvariance(self, t: Array) -> Array:
        """d sigma^2 / dt.  Without ``dsigma`` the *variance* is differenced: it is smooth at t = 0 for
        the usual schedules (sigma ~ sqrt(t) for VP is not)."""
        if self._dsigma_fn:
            return 2.0 * self._sigma(t) * self._call(self._dsigma_fn, t)
        return self._derivative(lambda u: self._sigma_fn(u) ** 2, t)

    def _log_alpha(self, t: Array) -> Array:
        return namespace_of(t).log(self._call(self._alpha_fn, t))

    def _sigma(self, t: Array) -> Array:
        return self._call(self._sigma_fn, t)

    def _drift_coef(self, t: Array) -> Array:
        return self._dalpha(t) / self._call(self._alpha_fn, t)  # f = alpha' / alpha

    def _g2(self, t: Array) -> Array:
        s = self._sigma(t)
        # g^2 = d sigma^2/dt - 2 f sigma^2
        return self._dvariance(t) - 2.0 * self._drift_coef(t) * s * s

    def _t_from_log_snr(self, lam: Array) -> Array:
        """Bisection on [0, T] (the log-SNR must be decreasing); converges to the dtype's resolution."""
        xp = namespace_of(lam)

        def log_snr(t: Array) -> Array:
            return 2.0 * (self._log_alpha(t) - xp.log(self._sigma(t)))

        lo = xp.zeros_like(lam)
        hi = xp.full_like(lam, self.T)
        for _ in range(64 if lam.dtype == xp.float64 else 32):
            mid = 0.5 * (lo + hi)
            above = log_snr(mid) > lam
            lo, hi = xp.where(above, mid, lo), xp.where(above, hi, mid)
        out = 0.5 * (lo + hi)
        # Values outside [lambda_T, lambda_0] cannot be inverted: mark them NaN for the caller's check.
        rtol = max(1e-9, 64.0 * float(xp.finfo(lam.dtype).eps))
        lam_T = log_snr(xp.full_like(lam, self.T))
        outside = lam < lam_T - rtol * xp.abs(lam_T)
        # lambda_0 is finite when sigma(0) > 0 (e.g. score_sde's VE schedule): a lambda above it used to
        # come back silently as t = 0.  (Where sigma(0) = 0, lambda_0 = +inf and log(0) is not evaluated.)
        zero = xp.zeros_like(lam)
        sigma_0 = self._sigma(zero)
        if bool(xp.all(sigma_0 > 0)):
            lam_0 = 2.0 * (self._log_alpha(zero) - xp.log(sigma_0))
            outside = outside | (lam > lam_0 + rtol * xp.abs(lam_0))
        return xp.where(outside, xp.full_like(out, float("nan")), out)

    @property
    def prior_std(self) -> float:
        if self._prior_std is not None:
            return self._prior_std
        from ..backends import get_backend

        # Evaluate sigma(T) with the active backend, not always NumPy: schedules written with one
        # library's functions (e.g. torch.sqrt under REFSDE_BACKEND=torch) failed on a NumPy array.
        backend = get_backend()
        return float(self._sigma(backend.asarray(self.T)))


# ---- schedules as users have them: a discrete alphas_cumprod table, an EDM sigma-space schedule ------------------
INTERPOLATIONS = ("log_alpha", "sigma")


class _PiecewiseLinear:
    """v(t) linear between nodes (tau_i, v_i), i = 0..M, tau increasing; ``slope(t)`` the exact derivative of
    the segment holding t (the right segment at a node, the last one at the end).  Any namespace."""

    def __init__(self, tau: list[float], values: list[float]) -> None:
        self.tau, self.values = tau, values
        self.slopes = [(values[i + 1] - values[i]) / (tau[i + 1] - tau[i]) for i in range(len(tau) - 1)]

    def _segment(self, t: Array) -> tuple[Any, Array, Array]:
        from array_api_compat import device as device_of

        xp = namespace_of(t)
        flat = xp.reshape(t, (-1,))
        tau = xp.asarray(self.tau, dtype=t.dtype, device=device_of(t))
        i = xp.searchsorted(tau, flat, side="right") - 1
        i = xp.clip(i, 0, len(self.tau) - 2)  # the last segment also holds t = tau_M
        return xp, i, flat

    def __call__(self, t: Array) -> Array:
        from array_api_compat import device as device_of

        xp, i, flat = self._segment(t)
        v = xp.asarray(self.values[:-1], dtype=t.dtype, device=device_of(t))
        tau = xp.asarray(self.tau[:-1], dtype=t.dtype, device=device_of(t))
        s = xp.asarray(self.slopes, dtype=t.dtype, device=device_of(t))
        out = xp.take(v, i) + xp.take(s, i) * (flat - xp.take(tau, i))  # v_i + slope_i (t - tau_i)
        return xp.reshape(out, tuple(t.shape))

    def slope(self, t: Array) -> Array:
        from array_api_compat import device as device_of

        xp, i, _ = self._segment(t)
        s = xp.asarray(self.slopes, dtype=t.dtype, device=device_of(t))
        return xp.reshape(xp.take(s, i), tuple(t.shape))


class TabulatedSchedule(ScheduleSDE):
    """A VP-type schedule given by a discrete table alpha-bar_i (``alphas_cumprod``, DDPM / diffusers), built by
    :meth:`ScheduleSDE.from_alphas_cumprod`.

    Entry i of the table sits at time ``times[i]`` (default (i + 1) T / N, T = 1: DPM-Solver's discrete
    convention, so diffusers' timestep index i is t = (i + 1) / N), and t = 0 is clean data (alpha-bar = 1).
    Between the nodes the schedule is interpolated, exactly (no finite differences; f and g^2 are the exact
    derivatives of the interpolant, piecewise):

    * ``"log_alpha"`` (default; DPM-Solver's ``NoiseScheduleVP('discrete')``): log alpha_t = log(alpha-bar)/2
      piecewise linear in t; sigma_t = sqrt(1 - alpha_t^2); f = d log alpha / dt, g^2 = -2 f.
    * ``"sigma"`` (diffusers' Euler / Heun schedulers, ``interpolation_type="linear"``): the EDM noise level
      sigma~_t = sqrt((1 - alpha-bar) / alpha-bar) piecewise linear in t; alpha_t = 1 / sqrt(1 + sigma~^2),
      sigma_t = sigma~ alpha_t; f = -sigma~ sigma~' / (1 + sigma~^2), g^2 = 2 sigma~ sigma~' / (1 + sigma~^2).

    At the nodes both give the table's values exactly.  The prior is N(0, I); the closed forms end at T (a
    check's exact score raises for t > T).  :meth:`ddpm_betas` gives the table's own chain
    beta_i = 1 - alpha-bar_i / alpha-bar_{i-1} (alpha-bar_{-1} = 1), the ``discretize`` chain is
    Euler-Maruyama (as every ScheduleSDE).
    """

    def __init__(self, alphas_cumprod: Any, times: Any = None, interpolation: str = "log_alpha",
                 name: str | None = None) -> None:
        abar = _host_table(alphas_cumprod, "alphas_cumprod")
        for i, a in enumerate(abar):
            if not 0.0 < a <= 1.0:
                raise ValueError(f"alphas_cumprod[{i}] = {a} must lie in (0, 1]")
            if i > 0 and not a <= abar[i - 1]:
                raise ValueError(f"alphas_cumprod must be non-increasing: [{i}] = {a} > [{i - 1}] = {abar[i - 1]}")
        n = len(abar)
        if times is None:
            tau = [(i + 1) / n for i in range(n)]  # t_i = (i + 1) / N (DPM-Solver's discrete times)
        else:
            tau = _host_table(times, "times")
            if len(tau) != n:
                raise ValueError(f"times must have one entry per table entry ({n}), got {len(tau)}")
            for i, t in enumerate(tau):
                if not t > (tau[i - 1] if i else 0.0):
                    raise ValueError(f"times must be increasing and > 0: times[{i}] = {t}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {interpolation!r}; choose one of {INTERPOLATIONS}")
        self.alphas_cumprod = abar
        self.table_times = tau
        self.interpolation = interpolation
        nodes = [0.0] + tau
        if interpolation == "log_alpha":
            self._v = _PiecewiseLinear(nodes, [0.0] + [0.5 * math.log(a) for a in abar])  # log alpha_t
        else:
            self._v = _PiecewiseLinear(nodes, [0.0] + [math.sqrt((1.0 - a) / a) for a in abar])  # sigma~_t
        super().__init__(alpha=self._alpha_of, sigma=self._sigma_of, T=tau[-1], prior_std=1.0, N=max(n, 2),
                         name=name or f"alphas_cumprod[{n}] ({interpolation})")
        self._validated = True  # the table itself was validated above

    def _params(self) -> dict[str, Any]:
        return {"name": self.name, "T": self.T}

    def _alpha_of(self, t: Array) -> Array:
        return namespace_of(t).exp(self._log_alpha(t))

    def _sigma_of(self, t: Array) -> Array:
        return self._sigma(t)

    def _log_alpha(self, t: Array) -> Array:
        xp = namespace_of(t)
        if self.interpolation == "log_alpha":
            return self._v(t)
        s = self._v(t)
        return -0.5 * xp.log1p(s * s)  # alpha = 1 / sqrt(1 + sigma~^2)

    def _sigma(self, t: Array) -> Array:
        xp = namespace_of(t)
        if self.interpolation == "log_alpha":
            return xp.sqrt(-xp.expm1(2.0 * self._v(t)))  # sigma^2 = 1 - alpha^2, no cancellation near t = 0
        s = self._v(t)
        return s / xp.sqrt(1.0 + s * s)  # sigma = sigma~ alpha

    def _log_sigma(self, t: Array) -> Array:
        return namespace_of(t).log(self._sigma(t))

    def _drift_coef(self, t: Array) -> Array:
        if self.interpolation == "log_alpha":
            return self._v.slope(t)  # f = d log alpha / dt
        s = self._v(t)
        return -s * self._v.slope(t) / (1.0 + s * s)  # f = -sigma~ sigma~' / (1 + sigma~^2)

    def _g2(self, t: Array) -> Array:
        if self.interpolation == "log_alpha":
            return -2.0 * self._v.slope(t)  # g^2 = d sigma^2/dt - 2 f sigma^2 = -2 f (alpha^2 + sigma^2) = -2 f
        s = self._v(t)
        return 2.0 * s * self._v.slope(t) / (1.0 + s * s)  # g^2 = 2 sigma~ sigma~' / (1 + sigma~^2)

    def _extended_marginal(self, t: Array) -> tuple[Array, Array]:
        xp = namespace_of(t)
        if bool(xp.any(t > self.T)):
            raise ValueError(f"the tabulated schedule ends at its last table time T = {self.T}; it does not extend "
                             f"beyond (got t up to {float(xp.max(t))})")
        return super()._extended_marginal(t)

    def ddpm_betas(self, N: int | None = None, *, like: Array | None = None) -> Array:
        """The table's own chain beta_i = 1 - alpha-bar_i / alpha-bar_{i-1}, alpha-bar_{-1} = 1, shape (N,) (N must
        be None or the table length)."""
        from .._arrays import host_array

        n = len(self.alphas_cumprod)
        if N is not None and N != n:
            raise ValueError(f"the table has {n} levels, not N = {N}")
        prev = [1.0] + self.alphas_cumprod[:-1]
        return host_array([-math.expm1(math.log(a) - math.log(p)) for a, p in zip(self.alphas_cumprod, prev)], like)


class EDMSchedule(ScheduleSDE):
    """The sigma-space SDE of Karras et al. (2022) / k-diffusion: alpha_t = 1, sigma_t = t on [0, sigma_max],
    dx = sqrt(2 t) dw; built by :meth:`ScheduleSDE.edm`.  Exact coefficients: f = 0, g^2 = 2 t (so g^2(0)
    is exactly 0), t_lambda = exp(-lambda / 2); time *is* the noise level, so a sigma grid is a time grid.
    The prior is N(0, sigma_max^2 I); the closed forms extend beyond T (EDM's churn raises sigma above
    sigma_max)."""

    def __init__(self, sigma_max: float = 80.0, name: str | None = None) -> None:
        sigma_max = check_positive("sigma_max", sigma_max)
        super().__init__(alpha=lambda t: 1.0 + 0.0 * t, sigma=lambda t: t, T=sigma_max, prior_std=sigma_max,
                         name=name or f"edm(sigma_max={sigma_max})")
        self._validated = True  # a closed form

    def _log_alpha(self, t: Array) -> Array:
        return 0.0 * t

    def _sigma(self, t: Array) -> Array:
        return t

    def _drift_coef(self, t: Array) -> Array:
        return 0.0 * t

    def _g2(self, t: Array) -> Array:
        return 2.0 * t  # d sigma^2 / dt = 2 t

    def _t_from_log_snr(self, lam: Array) -> Array:
        return namespace_of(lam).exp(-0.5 * lam)  # lambda = -2 log t


def _host_table(values: Any, name: str) -> list[float]:
    """A 1-d table (sequence or array of any namespace) as finite Python floats."""
    if hasattr(values, "shape") and hasattr(values, "dtype"):
        if len(values.shape) != 1:
            raise ValueError(f"{name} must be 1-d, got shape {tuple(values.shape)}")
        tolist = getattr(values, "tolist", None)
        out = [float(v) for v in (tolist() if tolist is not None else [values[i] for i in range(values.shape[0])])]
    else:
        out = [float(v) for v in values]
    if not out:
        raise ValueError(f"{name} must not be empty")
    for i, v in enumerate(out):
        if not math.isfinite(v):
            raise ValueError(f"{name}[{i}] = {v} is not finite")
    return out
