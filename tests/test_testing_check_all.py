"""refsde.testing.check_all: every piece an implementation has, one combined report, no silent passes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import refsde
from refsde import testing as rt

VP = refsde.VPSDE(beta_min=0.1, beta_max=20.0)


def _np(a):
    return np.asarray(refsde.get_backend().to_numpy(a), dtype=np.float64)


def _beta(t):
    return 0.1 + 19.9 * _np(t)


def _sde_fn(x, t):  # VP written from Song et al. 2021, eq. 11
    be = refsde.get_backend()
    b = _beta(t)
    return be.asarray(-0.5 * b[:, None] * _np(x), dtype=x.dtype), be.asarray(np.sqrt(b), dtype=x.dtype)


def _marginal_fn(x0, t):
    be = refsde.get_backend()
    tn = _np(t)
    B = 0.1 * tn + 0.5 * 19.9 * tn * tn
    return (be.asarray(np.exp(-0.5 * B)[:, None] * _np(x0), dtype=x0.dtype),
            be.asarray(np.sqrt(-np.expm1(-B)), dtype=x0.dtype))


def _pf(weight):
    def drift(score, x, t):
        f, g = _sde_fn(x, t)
        return f - weight * (g * g)[:, None] * score(x, t)

    return drift


def _impl(**pieces):
    return SimpleNamespace(reference=VP, **pieces)


def test_all_pieces_pass_and_missing_ones_skip():
    rep = rt.check_all(_impl(sde_fn=_sde_fn, marginal_fn=_marginal_fn, pf_ode_drift=_pf(0.5), reverse_drift=_pf(1.0)))
    assert rep.passed
    verdicts = {r.check: r.verdict for r in rep.results}
    assert verdicts["check_coefficients"] == verdicts["check_marginal"] == "PASS"
    assert verdicts["check_pf_ode_drift"] == verdicts["check_reverse_drift"] == "PASS"
    assert verdicts["check_sde_sampler"] == "SKIP"
    assert len(rep.results) == len(rt.check_all.__globals__["PIECES"])
    assert "PASS 4" in str(rep) and "SKIP" in str(rep)


def test_a_planted_bug_fails_with_the_whole_report():
    impl = _impl(sde_fn=_sde_fn, pf_ode_drift=_pf(1.0))  # the reverse drift given as the PF drift
    with pytest.raises(rt.ConformanceError) as info:
        rt.check_all(impl)
    rep = info.value.report
    assert not rep.passed and [r.check for r in rep.failures] == ["check_pf_ode_drift"]
    assert "check_pf_ode_drift" in str(info.value) and "score weight 1" in str(info.value)
    rep = rt.check_all(impl, raise_on_failure=False)
    assert not rep.passed and rep.failures[0].verdict == "FAIL"


def test_no_silent_passes():
    with pytest.raises(ValueError, match="none of the pieces"):
        rt.check_all(_impl())
    with pytest.raises(ValueError, match="reference"):
        rt.check_all(SimpleNamespace(sde_fn=_sde_fn))
    with pytest.raises(ValueError, match="check_options must be a dict"):
        rt.check_all(_impl(sde_fn=_sde_fn, check_options=[1]))
    with pytest.raises(ValueError, match="not pieces"):
        rt.check_all(_impl(sde_fn=_sde_fn, check_options={"sde_fun": {}}))
    # a check that raises anything but ConformanceError (here: a negative tolerance) is an ERROR, not a pass
    rep = rt.check_all(_impl(sde_fn=_sde_fn, marginal_fn=_marginal_fn, check_options={"sde_fn": {"rtol": -1.0}}),
                       raise_on_failure=False)
    assert not rep.passed
    (err,) = rep.failures
    assert err.verdict == "ERROR" and isinstance(err.error, ValueError)


def test_only_and_options():
    impl = _impl(sde_fn=_sde_fn, marginal_fn=_marginal_fn, check_options={"marginal_fn": {"n": 20}})
    rep = rt.check_all(impl, only="marginal")
    assert [r.check for r in rep.results] == ["check_marginal"]
    assert rep.results[0].report.n == 20
    with pytest.raises(ValueError, match="none of the pieces"):
        rt.check_all(impl, only="sampler")


def test_declared_backend_is_used():
    torch = pytest.importorskip("torch", reason="torch is not installed (the declared-backend path needs it)")

    def torch_sde_fn(x, t):
        assert isinstance(x, torch.Tensor), "the check must give this impl torch tensors"
        b = 0.1 + 19.9 * t
        return -0.5 * b[:, None] * x, torch.sqrt(b)

    rep = rt.check_all(SimpleNamespace(reference=VP, sde_fn=torch_sde_fn, backend="torch"))
    assert rep.passed and "torch" in rep.backend


def test_every_piece_has_its_check() -> None:
    from refsde.testing.check_all import CHECKS, PIECES

    assert {name for _, name in PIECES} == set(CHECKS)
    assert all(getattr(rt, name) is fn for name, fn in CHECKS.items())
