"""Variance-preserving (VP) and sub-VP SDEs with the linear beta schedule (Song et al. 2021)."""

from __future__ import annotations

from typing import Any

from .._arrays import Array, batch_broadcast, namespace_of, softplus
from .._checks import check_positive
from .base import SDE


class _LinearBetaSDE(SDE):
    """Shared linear schedule beta(t) = beta_min + (t/T)(beta_max - beta_min) on [0, T].

    With T = 1 this is score_sde's schedule; for other T the schedule is stretched so that
    beta(T) = beta_max.  B(t) = int_0^t beta = T (beta_min s + (beta_max - beta_min) s^2 / 2), s = t/T.
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0, N: int = 1000) -> None:
        super().__init__(T=T, N=N)
        self.beta_min = check_positive("beta_min", beta_min)
        self.beta_max = check_positive("beta_max", beta_max)
        if not self.beta_min < self.beta_max:
            raise ValueError(f"beta_min must be < beta_max, got {beta_min} >= {beta_max}")

    def _params(self) -> dict[str, Any]:
        return {"beta_min": self.beta_min, "beta_max": self.beta_max, "T": self.T}

    def beta(self, t: Any) -> Array:
        """beta(t), shape of ``t``."""
        return self._beta(self._t(t))

    def integrated_beta(self, t: Any) -> Array:
        """B(t) = int_0^t beta(u) du, shape of ``t``."""
        return self._B(self._t(t))

    def ddpm_betas(self, N: int | None = None, *, like: Array | None = None) -> Array:
        """beta_i = beta(t_i) T / N at the chain times t_i = i T / (N - 1) (:meth:`SDE.chain_times`), i = 0..N-1,
        shape (N,): the DDPM betas (Ho et al. 2020; score_sde's ``discrete_betas`` for T = 1), i.e.
        linspace(beta_min T / N, beta_max T / N, N).  The one definition of them: :meth:`VPSDE.discretize`,
        the samplers' chain tables and :func:`refsde.losses.ddpm_loss` use it.  ``like`` as in
        :meth:`SDE.chain_times`; ``N`` defaults to ``self.N``."""
        N = self._chain_length(N)
        return self._beta(self.chain_times(N, like=like)) * (self.T / N)  # beta_i = beta(t_i) T / N

    def _beta(self, t: Array) -> Array:
        return self.beta_min + (self.beta_max - self.beta_min) * (t / self.T)

    def _B(self, t: Array) -> Array:
        s = t / self.T
        # B(t) = T (beta_min s + (beta_max - beta_min) s^2 / 2)
        return self.T * s * (self.beta_min + 0.5 * (self.beta_max - self.beta_min) * s)

    def _log_alpha(self, t: Array) -> Array:
        return -0.5 * self._B(t)  # alpha_t = exp(-B(t)/2)

    def _drift_coef(self, t: Array) -> Array:
        return -0.5 * self._beta(t)  # f(x, t) = -beta(t) x / 2

    def _t_from_B(self, B: Array) -> Array:
        # Root of T (b0 s + db s^2 / 2) = B written without cancellation: s = 2 (B/T) / (b0 + sqrt(b0^2 + 2 db B/T))
        xp = namespace_of(B)
        b0, db = self.beta_min, self.beta_max - self.beta_min
        r = B / self.T
        return self.T * 2.0 * r / (b0 + xp.sqrt(b0 * b0 + 2.0 * db * r))

    @property
    def prior_std(self) -> float:
        return 1.0


class VPSDE(_LinearBetaSDE):
    """dx = -beta(t) x / 2 dt + sqrt(beta(t)) dw  (Song et al. 2021, eq. 11; DDPM in the limit).

    alpha_t = exp(-B(t)/2), sigma_t = sqrt(1 - exp(-B(t))) computed as sqrt(-expm1(-B)), which keeps
    full relative precision as t -> 0 (the naive form is 100% off in float32 at t = 1e-7).
    Prior N(0, I).  :meth:`discretize` is the DDPM transition with N steps.
    """

    def _sigma(self, t: Array) -> Array:
        xp = namespace_of(t)
        return xp.sqrt(-xp.expm1(-self._B(t)))  # sigma_t^2 = 1 - exp(-B(t))  (Song et al. eq. 29)

    def _log_sigma(self, t: Array) -> Array:
        xp = namespace_of(t)
        return 0.5 * xp.log(-xp.expm1(-self._B(t)))

    def _g2(self, t: Array) -> Array:
        return self._beta(t)  # g(t)^2 = beta(t)

    def _t_from_log_snr(self, lam: Array) -> Array:
        # lambda = -log(e^B - 1)  =>  B = log(1 + e^-lambda) = softplus(-lambda)
        return self._t_from_B(softplus(namespace_of(lam), -lam))

    def discretize(self, x: Array, t: Any, *, N: int | None = None, level: Any = None) -> tuple[Array, Array]:
        """DDPM step x_{i+1} = sqrt(1 - beta_i) x_i + sqrt(beta_i) z with beta_i of :meth:`ddpm_betas`
        (score_sde's discrete_betas for T = 1).  i = ``level`` when given, else floor(t (N - 1) / T); ``N`` overrides
        self.N (keywords as in :meth:`SDE.discretize`).  Needs beta_max T / N < 1."""
        xp, t = self._x_t(x, t)
        N = self._chain_length(N)
        if self.beta_max * self.T / N >= 1.0:
            # beta_i >= 1 would make sqrt(1 - beta_i) NaN; the DDPM chain needs N > beta_max T
            raise ValueError(f"the DDPM step needs beta_max * T / N < 1; use N > {self.beta_max * self.T}")
        i = self._chain_level(x, t, N, level)
        beta_i = self._at_level(self.ddpm_betas(N, like=t), i)  # beta_i = beta(t_i) T / N
        # sqrt(1 - b) - 1 = -b / (1 + sqrt(1 - b)), no cancellation for small b
        f = batch_broadcast(-beta_i / (1.0 + xp.sqrt(1.0 - beta_i)), x) * x
        return f, xp.sqrt(beta_i)


class SubVPSDE(_LinearBetaSDE):
    """dx = -beta(t) x / 2 dt + sqrt(beta(t) (1 - exp(-2 B(t)))) dw  (Song et al. 2021, eq. 12).

    alpha_t = exp(-B/2) and sigma_t = 1 - exp(-B) = -expm1(-B) (the *std*, not the variance).
    Prior N(0, I).  :meth:`discretize` is Euler-Maruyama with dt = T / N.
    """

    def _sigma(self, t: Array) -> Array:
        return -namespace_of(t).expm1(-self._B(t))  # sigma_t = 1 - exp(-B(t))

    def _log_sigma(self, t: Array) -> Array:
        xp = namespace_of(t)
        return xp.log(-xp.expm1(-self._B(t)))

    def _g2(self, t: Array) -> Array:
        xp = namespace_of(t)
        return -self._beta(t) * xp.expm1(-2.0 * self._B(t))  # g^2 = beta (1 - exp(-2B))

    def _t_from_log_snr(self, lam: Array) -> Array:
        # lambda = 2 log u - 2 log(1 - u^2), u = alpha_t = exp(-B/2).  Solving for u with c = exp(lambda/2):
        # u = 2c / (1 + sqrt(1 + 4c^2)), written in terms of a = exp(-|lambda|/2) <= 1 so nothing
        # overflows; then B = -2 log u.
        xp = namespace_of(lam)
        a = xp.exp(-0.5 * xp.abs(lam))
        r_w = xp.sqrt(a * a + 4.0)
        one_minus_u_pos = (a + a * a / (r_w + 2.0)) / (a + r_w)  # lambda >= 0, a = 1/c
        r_c = xp.sqrt(1.0 + 4.0 * a * a)
        u_neg = 2.0 * a / (1.0 + r_c)  # lambda < 0, a = c
        # B = -2 log u: through log1p(-(1 - u)) where u is near 1 (lambda >= 0); directly from u where u
        # is small (lambda < 0), since 1 - (1 - u) cancels there (float32 lost ~4 digits of t near T).
        B_pos = -2.0 * xp.log1p(-one_minus_u_pos)
        # (the where() keeps log(0) of the unused branch from warning at lambda = +inf)
        B_neg = -2.0 * xp.log(xp.where(lam >= 0, xp.ones_like(u_neg), u_neg))
        return self._t_from_B(xp.where(lam >= 0, B_pos, B_neg))


__all__ = ["VPSDE", "SubVPSDE"]
