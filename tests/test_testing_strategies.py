"""refsde.testing.strategies: the drawn objects are valid, cover what they promise, and hypothesis stays
an optional dependency (importing refsde never imports it).  Derandomized hypothesis profile (conftest)."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import numpy as np
from hypothesis import find, given, strategies as st

import refsde
from refsde.backends import backend_of
from refsde.testing import strategies as rst


def host(a: Any) -> np.ndarray:
    return np.asarray(backend_of(a).to_numpy(a), dtype=np.float64)


@given(rst.sdes())
def test_sdes_are_valid(sde: Any) -> None:
    assert isinstance(sde, (refsde.VPSDE, refsde.SubVPSDE, refsde.VESDE))
    assert 0.5 <= sde.T <= 2.0
    if isinstance(sde, refsde.VESDE):
        assert 0 < sde.sigma_min < sde.sigma_max and sde.convention in ("exact", "score_sde")
    else:
        assert 0 < sde.beta_min < sde.beta_max
    t = np.array([0.0, 0.5 * sde.T, sde.T])
    alpha, sigma = (np.asarray(v) for v in sde.marginal_coefficients(t))
    assert np.all(np.isfinite(alpha)) and np.all(alpha > 0) and np.all(np.isfinite(sigma)) and sigma[2] > 0
    assert math.isfinite(sde.prior_std) and sde.prior_std > 0


def test_sdes_cover_every_kind_and_both_ve_conventions() -> None:
    for cls in (refsde.VPSDE, refsde.SubVPSDE):
        assert type(find(rst.sdes(), lambda s, c=cls: type(s) is c)) is cls
    for convention in ("exact", "score_sde"):
        assert find(rst.sdes(kinds=("ve",)), lambda s, c=convention: s.convention == c).convention == convention
    assert find(rst.sdes(T=3.0), lambda s: True).T == 3.0


@given(st.data())
def test_times_lie_in_range_with_the_requested_backend_and_shape(backend: Any, data: Any) -> None:
    sde = data.draw(rst.sdes())
    eps = data.draw(st.sampled_from([None, 1e-5 * sde.T, 0.1 * sde.T]))
    lo = 0.0 if eps is None else eps
    t = data.draw(rst.times(sde, eps=eps))
    assert isinstance(t, float) and lo <= t <= sde.T
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    arr = data.draw(rst.times(sde, eps=eps, n=st.integers(1, 6), backend=backend, dtype=dtype))
    assert backend.owns(arr) and str(arr.dtype).endswith(dtype) and arr.ndim == 1 and 1 <= arr.shape[0] <= 6
    h = host(arr)
    assert np.all(h >= lo) and np.all(h <= sde.T)
    sde.marginal_coefficients(arr)  # accepted by the library as valid times


def test_times_hit_the_boundaries() -> None:
    sde = refsde.VPSDE(T=2.0)
    assert find(rst.times(sde, eps=1e-3), lambda t: t == 1e-3) == 1e-3
    assert find(rst.times(sde), lambda t: t == 2.0) == 2.0


@given(st.data())
def test_gaussians_are_well_conditioned_spd_of_the_backend(backend: Any, data: Any) -> None:
    g = data.draw(rst.gaussians(d=st.integers(1, 4), backend=backend))
    assert backend.owns(g.mean) and backend.owns(g.cov)
    cov = host(g.cov)
    d = cov.shape[0]
    assert host(g.mean).shape == (d,) and 1 <= d <= 4
    assert np.array_equal(cov, cov.T)
    lam = np.linalg.eigvalsh(cov)
    assert lam.min() > 0 and lam.max() / lam.min() <= 100.0 * (1 + 1e-9)
    assert lam.min() >= 0.1 * (1 - 1e-9)


@given(rst.gaussians(d=2, dtype="float32"))
def test_gaussians_in_float32(g: Any) -> None:
    assert str(g.cov.dtype).endswith("float32") and tuple(g.cov.shape) == (2, 2)


@given(st.data())
def test_gaussian_mixtures_have_normalized_weights(backend: Any, data: Any) -> None:
    m = data.draw(rst.gaussian_mixtures(k=st.integers(1, 3), d=2, backend=backend))
    w = host(m.weights)
    assert backend.owns(m.means) and 1 <= w.shape[0] <= 3 and host(m.means).shape == (w.shape[0], 2)
    assert abs(w.sum() - 1.0) < 1e-12 and np.all(w >= 0.05 / 3 * (1 - 1e-9))
    assert all(np.linalg.eigvalsh(c).min() > 0 for c in host(m.covs))


def test_bad_arguments() -> None:
    import pytest

    with pytest.raises(ValueError, match="kinds"):
        rst.sdes(kinds=("vpp",))
    with pytest.raises(ValueError, match="eps"):
        rst.times(refsde.VPSDE(), eps=1.0)
    with pytest.raises(ValueError, match="condition"):
        rst.gaussians(condition=0.5)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_refsde_does_not_import_hypothesis() -> None:
    code = (
        "import sys, refsde, refsde.testing, refsde.testing.check_loss, refsde.testing.check_likelihood\n"
        "import refsde.testing.pytest_plugin\n"
        "assert 'hypothesis' not in sys.modules, 'hypothesis imported'\n"
    )
    res = _run(code)
    assert res.returncode == 0, res.stderr


def test_missing_hypothesis_gives_a_clear_import_error() -> None:
    code = (
        "import sys\nsys.modules['hypothesis'] = None\n"
        "try:\n    import refsde.testing.strategies\nexcept ImportError as e:\n    print('MSG', e)\n"
        "else:\n    raise SystemExit('no ImportError')\n"
    )
    res = _run(code)
    assert res.returncode == 0, res.stderr
    assert "needs the 'hypothesis' package" in res.stdout and "pip install" in res.stdout
