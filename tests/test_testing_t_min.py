"""t_min= of the deterministic checks: code never evaluated below its training eps is judged on [t_min, T] only,
and the checks never call it below t_min (the grid, the shrinker and the drift checks alike)."""

from __future__ import annotations

import numpy as np
import pytest

import refsde
from refsde import testing as rt

VP = refsde.VPSDE(beta_min=0.1, beta_max=20.0)
T_MIN = 1e-3


def _np(a):
    return np.asarray(refsde.get_backend().to_numpy(a), dtype=np.float64)


def _guarded(fn, seen):
    """fn, but NaN below T_MIN (as code that clamps nothing and divides by sigma_t would be), recording every t."""

    def wrapped(*args):
        t = _np(args[-1])
        seen.append(float(t.min()))
        out = fn(*args)
        if t.min() < T_MIN:
            first = out[0] if isinstance(out, tuple) else out
            return (first * float("nan"),) + tuple(out[1:]) if isinstance(out, tuple) else first * float("nan")
        return out

    return wrapped


@pytest.mark.parametrize("check, fn", [
    (rt.check_coefficients, VP.sde),
    (rt.check_marginal, VP.marginal),
])
def test_forward_checks_respect_t_min(check, fn):
    seen: list[float] = []
    with pytest.raises(rt.ConformanceError):
        check(_guarded(fn, seen), VP)  # the default grid starts at t = 0
    seen.clear()
    assert check(_guarded(fn, seen), VP, t_min=T_MIN).passed
    assert min(seen) >= T_MIN


def test_drift_checks_respect_t_min():
    from refsde.sde.reverse import probability_flow_drift

    seen: list[float] = []
    drift = _guarded(lambda score, x, t: probability_flow_drift(VP, score, x, t), seen)
    with pytest.raises(rt.ConformanceError):
        rt.check_pf_ode_drift(drift, VP)
    seen.clear()
    assert rt.check_pf_ode_drift(drift, VP, t_min=T_MIN).passed
    assert min(seen) >= T_MIN


def test_shrinker_stays_above_t_min():
    pytest.importorskip("hypothesis")
    seen: list[float] = []

    def wrong_above(x, t):  # wrong at t >= 0.5: the grid fails, the shrinker must not try t < t_min
        f, g = VP.sde(x, t)
        seen.append(float(_np(t).min()))
        xp = refsde.get_backend().xp
        return f, g * (1.0 + xp.astype(t >= 0.5, g.dtype))

    with pytest.raises(rt.ConformanceError) as info:
        rt.check_coefficients(wrong_above, VP, t_min=0.2)
    assert info.value.shrunk and min(seen) >= 0.2


def test_bad_t_min():
    with pytest.raises(ValueError, match="t_min"):
        rt.check_marginal(VP.marginal, VP, t_min=-1.0)
    with pytest.raises(ValueError, match="t_min"):
        rt.check_marginal(VP.marginal, VP, t_min=1.0)
