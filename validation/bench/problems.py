"""The work every benchmark times: the VP-SDE, the data scores and the seed.

* :func:`vp_sde`: VPSDE(beta_min = 0.1, beta_max = 20), T = 1;
* :func:`linear_score`: s(x, t) = -x / 2, a cheap stand-in (one elementwise pass) that makes a sampler's own
  overhead visible;
* :func:`gaussian_score`: the exact score of N(0, diag(linspace(0.5, 2, d))) data through the
  full-covariance oracle ``refsde.gaussian.Gaussian`` (O(n d^2) per call, as costly as a network);
* :class:`DiagonalGaussianScore`: the same law's exact score, divergence and log-density written
  elementwise (O(n d) per call), for image-sized d.
"""

from __future__ import annotations

import math
import time
from typing import Any

from array_api_compat import device as device_of

SEED = 1234


def vp_sde() -> Any:
    import refsde

    return refsde.VPSDE(beta_min=0.1, beta_max=20.0)


def linear_score(x: Any, t: Any) -> Any:
    """s(x, t) = -x / 2: a cheap stand-in score (one elementwise pass)."""
    return -0.5 * x


def gaussian_score(backend: Any, d: int) -> Any:
    """The exact score of N(0, diag(linspace(0.5, 2, d))) data under the benchmark's VP-SDE."""
    from refsde.gaussian import Gaussian

    xp = backend.xp
    dtype = backend.default_dtype
    mean = xp.zeros((d,), dtype=dtype, device=backend.device)
    diag = xp.linspace(0.5, 2.0, d, dtype=dtype, device=backend.device)
    cov = xp.eye(d, dtype=dtype, device=backend.device) * diag
    return Gaussian(mean, cov).score_fn(vp_sde())


class DiagonalGaussianScore:
    """Exact score, divergence and log-density of p_t for data N(0, diag(c)) under ``sde``, elementwise.

    x_t ~ N(0, diag(v_t)) with v_t = alpha_t^2 c + sigma_t^2 (the marginal of a linear SDE), so
    s(x, t) = -x / v_t, div s = -sum_j 1 / v_t,j and log p_t(x) = -sum_j (x_j^2 / v_t,j + log(2 pi v_t,j)) / 2.
    """

    def __init__(self, backend: Any, sde: Any, d: int) -> None:
        xp = backend.xp
        self.sde = sde
        self._xp = xp
        self._c = xp.linspace(0.5, 2.0, d, dtype=backend.default_dtype, device=backend.device)
        self._last: tuple[Any, Any] | None = None

    def _var(self, t: Any) -> Any:
        if self._last is not None and self._last[0] is t:  # score then divergence at the same t (both sides)
            return self._last[1]
        t_arr = t
        if isinstance(t, (int, float)):
            t_arr = self._xp.asarray(float(t), dtype=self._c.dtype, device=device_of(self._c))
        alpha, sigma = self.sde.marginal_coefficients(t_arr)
        v = alpha * alpha * self._c + sigma * sigma  # v_t = alpha_t^2 c + sigma_t^2
        self._last = (t, v)
        return v

    def __call__(self, x: Any, t: Any) -> Any:
        return -x / self._var(t)  # grad log N(x; 0, diag(v_t))

    def divergence(self, x: Any, t: Any) -> Any:
        xp = self._xp
        div = -xp.sum(1.0 / self._var(t))  # trace of the Hessian -diag(1 / v_t)
        return xp.zeros((x.shape[0],), dtype=x.dtype, device=device_of(self._c)) + div

    def log_prob(self, x: Any, t: Any) -> Any:
        xp = self._xp
        v = self._var(t)
        return -0.5 * xp.sum(x * x / v + xp.log(2.0 * math.pi * v), axis=1)


class TimedScore:
    """A score object whose calls are timed: ``seconds`` accumulates the wall time spent inside
    ``score(x, t)`` and ``score.divergence(x, t)`` (``time.perf_counter`` around each call; two clock reads,
    well under a microsecond, per call).  Everything else (``log_prob``, ``sde``, ...) is passed through.

    The benchmarks use it to split a solver's wall time into the score + divergence work it asked for and
    its own overhead (wall time minus ``seconds``).  On a synchronous device (CPU) the split is exact; on an
    asynchronous one the caller would have to synchronise inside the timer."""

    def __init__(self, score: Any) -> None:
        self.score = score
        self.seconds = 0.0
        self.calls = 0

    def reset(self) -> None:
        self.seconds, self.calls = 0.0, 0

    def __call__(self, x: Any, t: Any) -> Any:
        start = time.perf_counter()
        out = self.score(x, t)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out

    def divergence(self, x: Any, t: Any) -> Any:
        start = time.perf_counter()
        out = self.score.divergence(x, t)
        self.seconds += time.perf_counter() - start
        return out

    def __getattr__(self, name: str) -> Any:  # log_prob, sde, ... of the wrapped score
        if name == "score":
            raise AttributeError(name)
        return getattr(self.score, name)
