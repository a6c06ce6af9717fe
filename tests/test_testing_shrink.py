"""refsde.testing: hypothesis-shrunk failing inputs in the deterministic conformance checks.

Mutants are written here from the papers' formulas (VP SDE, Song et al. 2021 eqs. 11 and 29), in the
namespace of their input arrays.  For each, the shrunk input named in the ConformanceError is parsed
from the message and the failure is recomputed here in NumPy from closed forms (never from refsde):
the shrunk input must really violate the check's tolerance rule.  Deterministic: no randomness in
the candidates; hypothesis runs derandomized inside the checks.
"""

from __future__ import annotations

import ast
import math
import re
import sys
from typing import Any, Callable

import numpy as np
import pytest
from array_api_compat import array_namespace
from hypothesis import given, settings, strategies as st

import refsde
from refsde import testing as rt

BMIN, BMAX = 0.1, 20.0
EPS32 = 2.0**-23
SHRUNK = re.compile(r"t = (\S+) \(t/T = [^)]*\), x = (\[[^\]]*\])")


def col(xp: Any, c: Any, x: Any) -> Any:
    return xp.reshape(c, (c.shape[0],) + (1,) * (x.ndim - 1))


def vp_B(t: Any) -> Any:
    """B(t) = int_0^t beta(s) ds = bmin t + (bmax - bmin) t^2 / 2 (T = 1)."""
    return t * (BMIN + 0.5 * (BMAX - BMIN) * t)


def drift_without_half(x: Any, t: Any) -> tuple[Any, Any]:
    """Mutant: f = -beta x instead of -beta x / 2 (eq. 11); g = sqrt(beta) correct."""
    xp = array_namespace(x, t)
    beta = BMIN + (BMAX - BMIN) * t
    return col(xp, -beta, x) * x, xp.sqrt(beta)


def naive_marginal(x0: Any, t: Any) -> tuple[Any, Any]:
    """Mutant: std = sqrt(1 - exp(-B)) cancels for small t (eq. 29 needs -expm1(-B)); mean correct."""
    xp = array_namespace(x0, t)
    B = vp_B(t)
    return col(xp, xp.exp(-0.5 * B), x0) * x0, xp.sqrt(1.0 - xp.exp(-B))


def parse_time_input(shrunk: str) -> tuple[float, np.ndarray]:
    m = SHRUNK.match(shrunk)
    assert m is not None, shrunk
    return float(m.group(1)), np.asarray(ast.literal_eval(m.group(2)), dtype=np.float64)


@pytest.fixture(scope="module")
def vp() -> Any:
    return refsde.VPSDE(beta_min=BMIN, beta_max=BMAX)


def raised(check: Callable, *args: Any, **kwargs: Any) -> rt.ConformanceError:
    with pytest.raises(rt.ConformanceError) as info:
        check(*args, **kwargs)
    return info.value


def test_drift_mutant_shrinks_to_a_simple_failing_input(vp: Any) -> None:
    err = raised(rt.check_coefficients, drift_without_half, vp)
    assert err.property == "drift f(x, t)"
    assert "shrunk input (hypothesis): t = " in str(err)
    t, x = parse_time_input(err.shrunk)
    assert x.shape == (3,)
    # the error is O(1) at every t and every x != 0: hypothesis reaches t = 0 and one unit coordinate
    assert t == 0.0 and np.sum(np.abs(x)) == 1.0 and np.all(x == np.round(x))
    beta = BMIN + (BMAX - BMIN) * t
    expected, got = -0.5 * beta * x, -beta * x
    rel = np.abs(got - expected) / np.abs(np.where(expected == 0, np.nan, expected))
    assert np.nanmax(rel) > 1e-10  # float64 rtol of the check


def test_naive_std_float64_shrunk_input_fails_the_tolerance(vp: Any) -> None:
    err = raised(rt.check_marginal, naive_marginal, vp)
    assert err.property == "marginal std"
    t, _ = parse_time_input(err.shrunk)
    assert 0.0 < t <= 1e-3  # the cancellation only shows at small t
    B = vp_B(t)
    exact, naive = math.sqrt(-math.expm1(-B)), math.sqrt(1.0 - math.exp(-B))
    assert abs(naive - exact) / exact > 1e-10


def test_naive_std_float32_shrunk_input_fails_the_condition_number_rule(vp: Any) -> None:
    err = raised(rt.check_marginal, naive_marginal, vp, dtype="float32")
    assert err.property == "marginal std"
    t, _ = parse_time_input(err.shrunk)
    assert t == float(np.float32(t)) and 0.0 < t
    B = vp_B(t)
    # kappa = |t d log sigma / dt| with sigma = sqrt(1 - e^{-B}), B' = beta: t beta / (2 expm1(B))
    kappa = t * (BMIN + (BMAX - BMIN) * t) / (2.0 * math.expm1(B))
    tol = 8.0 * EPS32 * (1.0 + kappa)
    t32 = np.float32(t)
    B32 = t32 * (np.float32(BMIN) + np.float32(0.5 * (BMAX - BMIN)) * t32)
    naive32 = float(np.sqrt(np.float32(1.0) - np.exp(-B32)))
    exact = math.sqrt(-math.expm1(-B))
    assert abs(naive32 - exact) / exact > tol


def test_prior_logp_mutant_shrinks_to_zero_sample(vp: Any) -> None:
    def sample(shape: tuple[int, ...]) -> Any:
        return refsde.get_backend().rng(0).normal(shape)

    def logp_without_constant(z: Any) -> Any:  # mutant: drops -(D/2) log(2 pi) of log N(z; 0, I)
        xp = array_namespace(z)
        return -0.5 * xp.sum(xp.reshape(z * z, (z.shape[0], -1)), axis=1)

    err = raised(rt.check_prior, sample, logp_without_constant, vp, n=200, d=4)
    assert err.property == "prior logp"
    m = re.match(r"z = (\[[^\]]*\]) \(shape \(1, 4\)\)", err.shrunk)
    assert m is not None, err.shrunk
    z = np.asarray(ast.literal_eval(m.group(1)))
    assert np.all(z == 0.0)
    expected = -0.5 * np.sum(z * z) - 2.0 * math.log(2.0 * math.pi)
    got = -0.5 * np.sum(z * z)
    scale = 0.5 * np.sum(z * z) + 2.0 * (abs(math.log(2.0 * math.pi)) + 1.0)
    assert abs(got - expected) / scale > 1e-10


def test_shrinking_is_deterministic_and_optional(vp: Any) -> None:
    first = raised(rt.check_marginal, naive_marginal, vp)
    second = raised(rt.check_marginal, naive_marginal, vp)
    assert first.shrunk and first.shrunk == second.shrunk and str(first) == str(second)
    off = raised(rt.check_marginal, naive_marginal, vp, shrink=False)
    assert off.shrunk == "" and "shrunk input" not in str(off)
    # the grid report and the verdict do not depend on shrinking
    assert (off.property, off.input, off.expected, off.got, off.statistic, off.threshold) == (
        first.property, first.input, first.expected, first.got, first.statistic, first.threshold)
    assert str(first).replace(f"  shrunk input (hypothesis): {first.shrunk}\n", "") == str(off)


@pytest.mark.slow
def test_candidate_rejecting_a_batch_of_one_keeps_the_grid_report(vp: Any) -> None:
    def picky(x: Any, t: Any) -> tuple[Any, Any]:
        if x.shape[0] < 2:
            raise ValueError("batches of at least 2 rows only")
        return drift_without_half(x, t)

    err = raised(rt.check_coefficients, picky, vp)
    assert err.property == "drift f(x, t)" and err.shrunk == "" and "shrunk input" not in str(err)


@pytest.mark.slow
def test_no_spurious_shrunk_input_when_only_batches_fail(vp: Any) -> None:
    """Wrong (1% drift error) only in batches of > 1 row: the grid fails it, but no batch of one fails,
    so no shrunk input may be reported, in particular none made of float32 underflow artifacts
    (subnormal x or t, where a correct float32 drift flushes to 0 while the float64 reference does not)."""
    def batch_only(x: Any, t: Any) -> tuple[Any, Any]:
        xp = array_namespace(x, t)
        beta = BMIN + (BMAX - BMIN) * t
        drift = col(xp, -0.5 * beta, x) * x
        return (1.01 * drift if x.shape[0] > 1 else drift), xp.sqrt(beta)

    err = raised(rt.check_coefficients, batch_only, vp, dtype="float32")
    assert err.property == "drift f(x, t)" and err.shrunk == ""


def test_no_hypothesis_means_no_shrinking(vp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # makes `import hypothesis` raise ImportError
    err = raised(rt.check_coefficients, drift_without_half, vp)
    assert err.property == "drift f(x, t)" and err.shrunk == ""


def test_correct_candidate_still_passes_with_shrinking_on(vp: Any) -> None:
    report = rt.check_marginal(vp.marginal, vp, shrink=True)
    assert report.passed


@settings(max_examples=1)
@given(st.just(0))
def test_no_nested_search_inside_a_hypothesis_test(_: int) -> None:
    err = raised(rt.check_coefficients, drift_without_half, refsde.VPSDE(beta_min=BMIN, beta_max=BMAX))
    assert err.property == "drift f(x, t)" and err.shrunk == ""
