"""Variance-exploding (VE) SDE, SMLD / NCSN in the continuous limit (Song et al. 2021, eq. 9)."""

from __future__ import annotations

import math
from typing import Any

from .._arrays import Array, namespace_of, softplus
from .._checks import check_positive
from .base import SDE

#: The two conventions for the VE marginal std.
VE_CONVENTIONS = ("exact", "score_sde")


class VESDE(SDE):
    """dx = sqrt(d sigma(t)^2 / dt) dw with sigma(t) = sigma_min (sigma_max / sigma_min)^(t/T).

    Marginal std of q(x_t | x_0), by ``convention``:

    * ``"exact"`` (default): the solution of the SDE from x(0) = x_0 has variance
      sigma(t)^2 - sigma_min^2, so std = sigma_min sqrt(expm1(2 (t/T) log(sigma_max/sigma_min))),
      which is 0 at t = 0.
    * ``"score_sde"``: std = sigma(t), as in Song et al.'s code; it equals the exact law of x_t when
      x(0) is x_0 plus N(0, sigma_min^2 I) noise, i.e. it treats t = 0 as already noised.

    The drift (0) and diffusion g(t)^2 = 2 log(sigma_max/sigma_min)/T sigma(t)^2 are the same in both.
    The prior is N(0, sigma_T^2 I) with sigma_T the convention's std at T (sigma_max for score_sde).
    :meth:`discretize` is the SMLD transition: G_i^2 = std(t_i)^2 - std(t_{i-1})^2 on t_i = i T/(N-1).
    """

    def __init__(
        self, sigma_min: float = 0.01, sigma_max: float = 50.0, T: float = 1.0, N: int = 1000, convention: str = "exact"
    ) -> None:
        super().__init__(T=T, N=N)
        self.sigma_min = check_positive("sigma_min", sigma_min)
        self.sigma_max = check_positive("sigma_max", sigma_max)
        if not self.sigma_min < self.sigma_max:
            raise ValueError(f"sigma_min must be < sigma_max, got {sigma_min} >= {sigma_max}")
        if convention not in VE_CONVENTIONS:
            raise ValueError(f"convention must be one of {VE_CONVENTIONS}, got {convention!r}")
        self.convention = convention
        self._L = math.log(self.sigma_max / self.sigma_min)

    def _params(self) -> dict[str, Any]:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "T": self.T, "convention": self.convention}

    @property
    def exact(self) -> bool:
        return self.convention == "exact"

    def noise_level(self, t: Any) -> Array:
        """sigma(t) = sigma_min (sigma_max/sigma_min)^(t/T) (the noise scale, not always the std)."""
        t = self._t(t)
        return self.sigma_min * namespace_of(t).exp(self._L * (t / self.T))

    def _log_alpha(self, t: Array) -> Array:
        return 0.0 * t

    def _drift_coef(self, t: Array) -> Array:
        return 0.0 * t

    def _g2(self, t: Array) -> Array:
        # g^2 = d sigma(t)^2 / dt = (2 L / T) sigma_min^2 exp(2 L t / T)
        return (2.0 * self._L / self.T) * self.sigma_min**2 * namespace_of(t).exp(2.0 * self._L * (t / self.T))

    def _log_sigma(self, t: Array) -> Array:
        xp = namespace_of(t)
        if self.exact:
            # log sqrt(sigma(t)^2 - sigma_min^2) = log sigma_min + log(expm1(2 L t/T)) / 2
            return math.log(self.sigma_min) + 0.5 * xp.log(xp.expm1(2.0 * self._L * (t / self.T)))
        return math.log(self.sigma_min) + self._L * (t / self.T)

    def _sigma(self, t: Array) -> Array:
        # Direct forms, not exp(log sigma): the same values, but no log(0) warning at t = 0 (exact).
        xp = namespace_of(t)
        if self.exact:
            return self.sigma_min * xp.sqrt(xp.expm1(2.0 * self._L * (t / self.T)))
        return self.sigma_min * xp.exp(self._L * (t / self.T))

    def _t_from_log_snr(self, lam: Array) -> Array:
        xp = namespace_of(lam)
        # lambda = -2 log std  =>  exact: expm1(2 L s) = exp(-lambda) / sigma_min^2; score_sde: L s = -lambda/2 - log sigma_min
        if self.exact:
            x = -lam - 2.0 * math.log(self.sigma_min)
            s = softplus(xp, x) / (2.0 * self._L)
        else:
            s = (-0.5 * lam - math.log(self.sigma_min)) / self._L
        return self.T * s

    @property
    def prior_std(self) -> float:
        if self.exact:
            return self.sigma_min * math.sqrt(math.expm1(2.0 * self._L))
        return self.sigma_max

    def discretize(self, x: Array, t: Any, *, N: int | None = None, level: Any = None) -> tuple[Array, Array]:
        """SMLD step x_{i+1} = x_i + sqrt(std_{i+1}^2 - std_i^2) z; f = 0, G has ``t``'s shape.

        std_i = std(t_i) at t_i = i T / (N - 1) (score_sde's discrete_sigmas for the score_sde
        convention), std_{-1} = 0.  i = ``level`` when given, else floor(t (N - 1) / T); ``N`` overrides
        self.N (keywords as in :meth:`SDE.discretize`).
        """
        xp, t = self._x_t(x, t)
        N = self._chain_length(N)
        i = self._chain_level(x, t, N, level)
        s = i * (1.0 / (N - 1))  # t_i / T
        ds = 1.0 / (N - 1)
        two_L = 2.0 * self._L
        if self.exact:
            # var_i - var_{i-1} = sigma_min^2 exp(2 L s_{i-1}) expm1(2 L ds) for i >= 1, and 0 at i = 0
            # (expm1 of a Python float: math, not xp -- torch and array_api_strict reject scalars)
            G2 = self.sigma_min**2 * xp.exp(two_L * (s - ds)) * math.expm1(two_L * ds)
            G2 = xp.where(i == 0, 0.0 * G2, G2)
        else:
            # sigma_i^2 - sigma_{i-1}^2 = -sigma_i^2 expm1(-2 L ds) for i >= 1, and sigma_min^2 at i = 0
            sig2 = self.sigma_min**2 * xp.exp(two_L * s)
            G2 = xp.where(i == 0, sig2, -sig2 * math.expm1(-two_L * ds))
        return xp.zeros_like(x), xp.sqrt(G2)
