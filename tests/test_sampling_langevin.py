"""``refsde.sampling.langevin_corrector``: the Langevin corrector on its own at a fixed time t.

* Path by path with explicit noise against a NumPy re-implementation of score_sde's update
  x' = x + e s + sqrt(2 e) z with e = 2 alpha (snr ||z|| / ||s||)^2 (Langevin; per-sample or batch-mean
  norms) or e = 2 alpha (snr sigma_t)^2 (annealed), with the exact Gaussian score written in the test.
* The same corrector inside ``sample_pc`` (VE, alpha = 1; predictor=None) gives the same path.
* Bad input is a ValueError.
"""

from __future__ import annotations

import numpy as np
import pytest

import refsde
from refsde.gaussian import Gaussian
from refsde.sampling import langevin_corrector, sample_pc

BACKEND = refsde.get_backend()
XP = BACKEND.xp
MU = np.array([0.5, -1.0, 2.0])
COV = np.array([[1.0, 0.3, -0.2], [0.3, 0.5, 0.1], [-0.2, 0.1, 2.0]])
N = 7


def _arr(a: np.ndarray):
    return BACKEND.asarray(np.ascontiguousarray(a), dtype=XP.float64)


def _np_score(sde, x: np.ndarray, t: float) -> np.ndarray:
    """Score of p_t = N(alpha_t mu, alpha_t^2 COV + sigma_t^2 I) for Gaussian data (Song et al. 2021, eq. 29)."""
    a = float(np.ravel(BACKEND.to_numpy(sde.alpha(_arr(np.array(t)))))[0])
    s = float(np.ravel(BACKEND.to_numpy(sde.sigma(_arr(np.array(t)))))[0])
    S = a * a * COV + s * s * np.eye(3)
    return -np.linalg.solve(S, (x - a * MU).T).T


def _np_corrector(sde, x, t, z, *, method, snr, alpha, batch_norm):
    for k in range(z.shape[0]):
        s = _np_score(sde, x, t)
        if method == "langevin":
            sn, zn = np.linalg.norm(s, axis=1), np.linalg.norm(z[k], axis=1)
            if batch_norm:
                sn, zn = np.full_like(sn, sn.mean()), np.full_like(zn, zn.mean())
            e = 2.0 * alpha * (snr * zn / sn) ** 2
        else:
            sigma = float(np.ravel(BACKEND.to_numpy(sde.sigma(_arr(np.array(t)))))[0])
            e = np.full(x.shape[0], 2.0 * alpha * (snr * sigma) ** 2)
        x = x + e[:, None] * s + np.sqrt(2.0 * e)[:, None] * z[k]
    return x


SDES = {"VP": refsde.VPSDE(), "subVP": refsde.SubVPSDE(), "VE": refsde.VESDE()}


@pytest.mark.parametrize("kind", sorted(SDES))
@pytest.mark.parametrize("method,batch_norm", [("langevin", False), ("langevin", True), ("annealed_langevin", False)])
@pytest.mark.parametrize("alpha", [1.0, 0.93])
def test_path_matches_score_sde_formula(kind: str, method: str, batch_norm: bool, alpha: float) -> None:
    sde = SDES[kind]
    rng = np.random.default_rng(3)
    x0, z = rng.standard_normal((N, 3)) * 2.0, rng.standard_normal((4, N, 3))
    t = 0.37
    score = Gaussian(_arr(MU), _arr(COV)).score_fn(sde)
    got, info = langevin_corrector(score, sde, _arr(x0), t, method=method, snr=0.2, n_steps=4, alpha=alpha,
                                   batch_norm=batch_norm, noise=_arr(z))
    want = _np_corrector(sde, x0, t, z, method=method, snr=0.2, alpha=alpha, batch_norm=batch_norm)
    np.testing.assert_allclose(BACKEND.to_numpy(got), want, rtol=1e-12, atol=1e-12)
    assert info.nfe == 4 and info.n_accepted == 4 and info.method == f"corrector({method})"
    assert got.dtype == XP.float64 and tuple(got.shape) == (N, 3)


@pytest.mark.parametrize("method", ["langevin", "annealed_langevin"])
def test_same_as_the_pc_corrector_on_ve(method: str) -> None:
    """sample_pc(predictor=None, n_steps=1, predictor_first) runs one corrector step at t_1 = eps (VE: alpha = 1)."""
    sde = refsde.VESDE()
    eps = 0.3
    rng = np.random.default_rng(5)
    x0, z = rng.standard_normal((N, 3)) * 20.0, rng.standard_normal((1, 2, N, 3))
    score = Gaussian(_arr(MU), _arr(COV)).score_fn(sde)
    pc, _ = sample_pc(score, sde, _arr(x0), 1, eps=eps, predictor=None, corrector=method, snr=0.16, noise=_arr(z))
    alone, _ = langevin_corrector(score, sde, _arr(x0), eps, method=method, snr=0.16, noise=_arr(z[:, 1]))
    np.testing.assert_allclose(BACKEND.to_numpy(alone), BACKEND.to_numpy(pc), rtol=1e-13, atol=0)


def test_seeded_rng_is_reproducible() -> None:
    sde = refsde.VPSDE()
    score = Gaussian(_arr(MU), _arr(COV)).score_fn(sde)
    x = _arr(np.ones((N, 3)))
    a, _ = langevin_corrector(score, sde, x, 0.5, n_steps=3, rng=11)
    b, _ = langevin_corrector(score, sde, x, 0.5, n_steps=3, rng=11)
    c, _ = langevin_corrector(score, sde, x, 0.5, n_steps=3, rng=12)
    assert np.array_equal(BACKEND.to_numpy(a), BACKEND.to_numpy(b))
    assert not np.array_equal(BACKEND.to_numpy(a), BACKEND.to_numpy(c))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(t=1.5), "t must lie in"),
        (dict(t=float("nan")), "t must lie in"),
        (dict(t=-0.1), "t must lie in"),
        (dict(n_steps=0), "n_steps"),
        (dict(snr=0.0), "snr"),
        (dict(alpha=-1.0), "alpha"),
        (dict(method="hmc"), "unknown method"),
        (dict(noise=np.zeros((2, N, 3))), "noise must have shape"),
    ],
)
def test_bad_input(kwargs: dict, match: str) -> None:
    sde = refsde.VPSDE()
    score = Gaussian(_arr(MU), _arr(COV)).score_fn(sde)
    kw = dict(t=0.5, n_steps=1)
    kw.update(kwargs)
    if "noise" in kw:
        kw["noise"] = _arr(kw["noise"])
    t = kw.pop("t")
    with pytest.raises(ValueError, match=match):
        langevin_corrector(score, sde, _arr(np.ones((N, 3))), t, **kw)


def test_score_returning_nan_is_an_error() -> None:
    sde = refsde.VPSDE()
    with pytest.raises(ValueError, match="NaN"):
        langevin_corrector(lambda x, t: x * float("nan"), sde, _arr(np.ones((N, 3))), 0.5, rng=0)
