"""The one statistics module, :mod:`refsde.testing._stats` (used by refsde.testing and the validation suite).

The normal quantile kept in the merge (Acklam + two Halley steps) is checked against ``scipy.special.ndtri``
together with the one it replaced (Newton's method on log sf, re-stated below from the removed
``refsde/testing/_stats.py``), so the choice stays justified: it is as accurate in the tails and more
accurate near q = 1/2.  The chi-square, Student-t and backend functions are checked against scipy in
tests/test_validation.py and tests/test_testing_loss.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from refsde.testing import _stats

special = pytest.importorskip("scipy.special")


def _removed_newton_isf(q: float) -> float:
    """The norm_isf that refsde.testing had before the merge (Newton on log sf from sqrt(-2 log q))."""
    if q > 0.5:
        return -_removed_newton_isf(1.0 - q)
    log_q = math.log(q)
    x = math.sqrt(-2.0 * log_q)
    for _ in range(100):
        sf = _stats.norm_sf(x)
        pdf = math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        step = (math.log(sf) - log_q) * sf / pdf
        x += step
        if abs(step) <= 1e-15 * max(1.0, abs(x)):
            break
    return x


def _grid() -> np.ndarray:
    rng = np.random.default_rng(0)
    qs = np.concatenate([10.0 ** -rng.uniform(0.0, 300.0, 1500), rng.uniform(0.0, 1.0, 1500),
                         1.0 - 10.0 ** -rng.uniform(1.0, 16.0, 500), 0.5 + rng.uniform(-1e-6, 1e-6, 300),
                         [1e-300, 1e-20, 0.025, 0.3, 0.5, 0.9, 1.0 - 1e-16]])
    return qs[(qs > 0.0) & (qs < 1.0)]


def _errors(fn) -> tuple[np.ndarray, np.ndarray]:
    """(absolute, relative) error of fn(q) against -ndtri(q) on the grid."""
    qs = _grid()
    ref = -special.ndtri(qs)
    got = np.array([fn(float(q)) for q in qs])
    err = np.abs(got - ref)
    return err, err / np.maximum(np.abs(ref), 1e-300)


def test_norm_isf_against_scipy() -> None:
    qs = _grid()
    err, rel = _errors(_stats.norm_isf)
    ref = np.abs(special.ndtri(qs))
    # relative accuracy away from q = 1/2 (ndtri itself is within 3 ulp), absolute there (the quantile is tiny)
    assert np.all(err <= 4e-15 * ref + 2e-16), float(np.max(err - 4e-15 * ref))
    tail = qs < 1e-10
    assert np.max(rel[tail]) < 1e-15


def test_kept_norm_isf_is_at_least_as_accurate_as_the_removed_one() -> None:
    err_kept, rel_kept = _errors(_stats.norm_isf)
    err_removed, rel_removed = _errors(_removed_newton_isf)
    assert np.max(err_kept) <= np.max(err_removed)
    qs = _grid()
    centre = np.abs(qs - 0.5) < 1e-2
    assert np.max(rel_kept[centre]) < 0.1 * np.max(rel_removed[centre])
    # the two agree to rounding everywhere else
    assert np.max(np.abs(rel_kept[~centre] - rel_removed[~centre])) < 1e-14


def test_norm_isf_domain() -> None:
    for bad in (0.0, 1.0, -0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="must lie in"):
            _stats.norm_isf(bad)
    assert _stats.norm_ppf(0.0) == -math.inf and _stats.norm_ppf(1.0) == math.inf
    assert _stats.norm_isf(0.5) == 0.0


def test_z_two_sided_is_the_bonferroni_quantile() -> None:
    for alpha in (0.05, 1e-6):
        assert _stats.z_two_sided(alpha) == _stats.norm_isf(0.5 * alpha)
        for m in (1, 7, 108):
            assert _stats.z_two_sided(alpha, m) == pytest.approx(-float(special.ndtri(alpha / (2 * m))), rel=1e-14)


def test_wilson_hilferty_z_inverts_its_quantile() -> None:
    for k in (50.0, 1e3, 1e5):
        for z in (-5.0, -1.0, 0.0, 2.0, 6.0):
            assert _stats.chi2_wilson_hilferty_z(_stats._wilson_hilferty(z, k), k) == pytest.approx(z, abs=1e-9)
