"""Hypothesis strategies for property tests of diffusion-SDE code: SDEs, times, Gaussian (mixture) data.

>>> from hypothesis import given
>>> from refsde.testing import strategies as rst
>>> @given(rst.sdes(), rst.gaussians(d=2))
... def test_my_score(sde, data): ...

hypothesis is a test extra (``pip install "refsde[test]"``); ``import refsde`` and ``import
refsde.testing`` never import it, only this module does.  Arrays are built in NumPy float64 and
converted to the requested backend (``backend=``: a name, a :class:`refsde.backends.Backend` or None for
the active backend, resolved when an example is drawn) and dtype (``dtype=``: "float32" / "float64" /
a dtype of the backend, None for the backend's default).
"""

from __future__ import annotations

import math
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "refsde.testing.strategies needs the 'hypothesis' package, a test extra of refsde: "
        "pip install 'refsde[test]' (or: pip install hypothesis)"
    ) from exc

import numpy as np

from ..backends import Backend, get_backend
from ..gaussian import Gaussian, GaussianMixture
from ..sde import SubVPSDE, VESDE, VPSDE

__all__ = ["gaussian_mixtures", "gaussians", "sdes", "times"]

SDE_KINDS = ("vp", "subvp", "ve")


def _as_strategy(value: Any) -> st.SearchStrategy:
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def _floats(lo: float, hi: float) -> st.SearchStrategy:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _log_uniform(lo: float, hi: float) -> st.SearchStrategy:
    return _floats(math.log(lo), math.log(hi)).map(math.exp)


def _resolve(backend: Any, dtype: Any) -> tuple[Backend, Any]:
    be: Backend = get_backend(backend)
    if dtype is None:
        return be, be.default_dtype
    return be, (be.dtype_from_name(dtype) if isinstance(dtype, str) else dtype)


def _convert(backend: Any, dtype: Any, a: np.ndarray) -> Any:
    be, dt = _resolve(backend, dtype)
    return be.asarray(np.ascontiguousarray(a), dtype=dt)


def sdes(kinds: tuple[str, ...] = SDE_KINDS, T: Any = None, conventions: tuple[str, ...] = ("exact", "score_sde")) -> st.SearchStrategy:
    """VP / sub-VP / VE SDEs with valid random parameters.

    VP and sub-VP: beta_min log-uniform in [0.01, 1], beta_max = beta_min + U[1, 30].  VE: sigma_min
    log-uniform in [1e-3, 0.1], sigma_max log-uniform in [1, 100], ``convention`` drawn from
    ``conventions`` (both by default).  ``T``: a float, a strategy, or None (1.0 or U[0.5, 2]).
    """
    bad = set(kinds) - set(SDE_KINDS)
    if bad or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {SDE_KINDS}, got {kinds!r}")
    t_strategy = st.one_of(st.just(1.0), _floats(0.5, 2.0)) if T is None else _as_strategy(T)

    @st.composite
    def draw_sde(draw: Any) -> Any:
        kind = draw(st.sampled_from(kinds))
        horizon = float(draw(t_strategy))
        if kind in ("vp", "subvp"):
            beta_min = draw(_log_uniform(0.01, 1.0))
            beta_max = beta_min + draw(_floats(1.0, 30.0))
            cls = VPSDE if kind == "vp" else SubVPSDE
            return cls(beta_min=beta_min, beta_max=beta_max, T=horizon)
        sigma_min = draw(_log_uniform(1e-3, 0.1))
        sigma_max = draw(_log_uniform(1.0, 100.0))
        return VESDE(sigma_min=sigma_min, sigma_max=sigma_max, T=horizon, convention=draw(st.sampled_from(conventions)))

    return draw_sde()


def times(sde: Any, *, eps: float | None = None, n: Any = None, backend: Any = None, dtype: Any = None) -> st.SearchStrategy:
    """Times in [eps, T] (eps = 0 when None) for ``sde``: Python floats when ``n`` is None, else arrays
    of shape (n,) (``n`` an int or a strategy) of ``backend`` / ``dtype``.

    A third of the draws are hard points: eps, T, eps + 1e-7 T and T (1 - 1e-6) (clipped to the range).
    """
    T = float(sde.T)
    lo = 0.0 if eps is None else float(eps)
    if not 0.0 <= lo < T:
        raise ValueError(f"eps must satisfy 0 <= eps < T = {T}, got {eps}")
    hard = sorted({lo, T, min(lo + 1e-7 * T, T), max(T * (1.0 - 1e-6), lo)})
    one = st.one_of(_floats(lo, T), _floats(lo, T), st.sampled_from(hard))
    if n is None:
        return one

    @st.composite
    def draw_array(draw: Any) -> Any:
        size = int(draw(_as_strategy(n)))
        values = np.asarray(draw(st.lists(one, min_size=size, max_size=size)), dtype=np.float64)
        be, dt = _resolve(backend, dtype)
        if dt == be.xp.float32:
            # rounding to float32 may push a value past T or below eps: step back inside by one ulp
            v = values.astype(np.float32)
            v = np.where(v.astype(np.float64) > T, np.nextafter(np.float32(T), np.float32(0)), v)
            v = np.where(v.astype(np.float64) < lo, np.nextafter(np.float32(lo), np.float32(T)), v)
            values = v.astype(np.float64)
        return be.asarray(np.ascontiguousarray(values), dtype=dt)

    return draw_array()


def _random_orthogonal(draw: Any, d: int) -> np.ndarray:
    """A product of Givens rotations with drawn angles: always exactly orthogonal (no degenerate QR)."""
    q = np.eye(d)
    for i in range(d):
        for j in range(i + 1, d):
            a = draw(_floats(-math.pi, math.pi))
            c, s = math.cos(a), math.sin(a)
            g = np.eye(d)
            g[i, i] = g[j, j] = c
            g[i, j], g[j, i] = -s, s
            q = q @ g
    return q


def _covariance(draw: Any, d: int, condition: float, scale: tuple[float, float]) -> np.ndarray:
    """Q diag(l) Q^T with l log-uniform within a factor ``condition`` of a drawn overall scale."""
    base = draw(_log_uniform(*scale))
    rel = [draw(_floats(0.0, math.log(condition))) for _ in range(d)]
    rel = np.asarray(rel) - (min(rel) if rel else 0.0)  # spread <= log(condition)
    lam = base * np.exp(rel)
    q = _random_orthogonal(draw, d)
    cov = (q * lam) @ q.T
    return 0.5 * (cov + cov.T)


def gaussians(
    d: Any = st.integers(1, 4), *, backend: Any = None, dtype: Any = None, condition: float = 100.0,
    scale: tuple[float, float] = (0.1, 10.0), mean_bound: float = 3.0,
) -> st.SearchStrategy:
    """:class:`refsde.gaussian.Gaussian` data N(m, C) of dimension ``d`` (an int or a strategy).

    m has entries in [-mean_bound, mean_bound]; C = Q diag(l) Q^T with Q a random rotation and the
    eigenvalues l within a factor ``condition`` (100) of each other, the smallest in ``scale``.
    """
    if condition < 1.0:
        raise ValueError(f"condition must be >= 1, got {condition}")

    @st.composite
    def draw_gaussian(draw: Any) -> Gaussian:
        dim = int(draw(_as_strategy(d)))
        mean = np.asarray(draw(st.lists(_floats(-mean_bound, mean_bound), min_size=dim, max_size=dim)))
        cov = _covariance(draw, dim, condition, scale)
        return Gaussian(_convert(backend, dtype, mean), _convert(backend, dtype, cov))

    return draw_gaussian()


def gaussian_mixtures(
    k: Any = st.integers(1, 3), d: Any = st.integers(1, 3), *, backend: Any = None, dtype: Any = None,
    condition: float = 100.0, scale: tuple[float, float] = (0.1, 10.0), mean_bound: float = 3.0,
    min_weight: float = 0.05,
) -> st.SearchStrategy:
    """:class:`refsde.gaussian.GaussianMixture` with ``k`` components (int or strategy) of dimension ``d``.

    Weights: positive draws in [min_weight, 1] normalized to sum 1; each component as in :func:`gaussians`.
    """
    if not 0.0 < min_weight <= 1.0:
        raise ValueError(f"min_weight must lie in (0, 1], got {min_weight}")

    @st.composite
    def draw_mixture(draw: Any) -> GaussianMixture:
        n_comp, dim = int(draw(_as_strategy(k))), int(draw(_as_strategy(d)))
        w = np.asarray(draw(st.lists(_floats(min_weight, 1.0), min_size=n_comp, max_size=n_comp)))
        means = np.asarray(
            draw(st.lists(st.lists(_floats(-mean_bound, mean_bound), min_size=dim, max_size=dim), min_size=n_comp, max_size=n_comp))
        ).reshape(n_comp, dim)
        covs = np.stack([_covariance(draw, dim, condition, scale) for _ in range(n_comp)])
        return GaussianMixture(_convert(backend, dtype, w / w.sum()), _convert(backend, dtype, means), _convert(backend, dtype, covs))

    return draw_mixture()
