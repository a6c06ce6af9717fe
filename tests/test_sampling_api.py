"""API tests of refsde.sampling: reproducibility, noise layouts and RNG order, input validation, dtype,
the time passed to score_fn, nfe bookkeeping, the time grid and documented corner cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

import refsde
from refsde.sampling import SampleInfo, sample_ode, sample_pc, sample_sde, time_grid

BACKEND = refsde.get_backend()
XP = BACKEND.xp
N = 25
SHAPE = (5, 3)


def _np(a) -> np.ndarray:
    return np.asarray(BACKEND.to_numpy(a), dtype=np.float64)


def _score(x, t):
    """A smooth stand-in score, linear in x, that depends on t."""
    return -x / (1.0 + t)


def _x_T(sde=None, seed=0, dtype=None):
    sde = sde or refsde.VPSDE()
    return sde.prior_sample(SHAPE, seed, backend=BACKEND, dtype=dtype)


def _noise(lead, seed=1, dtype=None):
    return refsde.make_rng(seed, BACKEND).normal(tuple(lead) + SHAPE, dtype=dtype)


# ---------------------------------------------------------------------------------------------------
# reproducibility
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["euler_maruyama", "reverse_diffusion", "ancestral"])
def test_same_noise_same_output_and_seed_reproducible(method):
    sde, x_T = refsde.VESDE(), _x_T(refsde.VESDE())
    z = _noise((N,))
    a, _ = sample_sde(_score, sde, x_T, N, method=method, noise=z)
    b, _ = sample_sde(_score, sde, x_T, N, method=method, noise=z)
    np.testing.assert_array_equal(_np(a), _np(b))
    c, _ = sample_sde(_score, sde, x_T, N, method=method, rng=7)
    d, _ = sample_sde(_score, sde, x_T, N, method=method, rng=7)
    e, _ = sample_sde(_score, sde, x_T, N, method=method, rng=8)
    np.testing.assert_array_equal(_np(c), _np(d))
    assert not np.allclose(_np(c), _np(e))


def test_rng_object_advances_between_calls():
    sde, x_T = refsde.VPSDE(), _x_T()
    gen = refsde.make_rng(3, BACKEND)
    a, _ = sample_sde(_score, sde, x_T, N, rng=gen)
    b, _ = sample_sde(_score, sde, x_T, N, rng=gen)
    assert not np.allclose(_np(a), _np(b))


def test_seed_equals_explicit_noise_drawn_in_step_order():
    """rng=seed is the same as noise[k] = k-th draw of make_rng(seed) (one draw per step, also the last)."""
    sde, x_T = refsde.VPSDE(), _x_T()
    gen = refsde.make_rng(11, BACKEND)
    z = XP.stack([gen.normal(SHAPE) for _ in range(N)])
    for last in (True, False):
        a, _ = sample_sde(_score, sde, x_T, N, rng=11, last_step_noise=last)
        b, _ = sample_sde(_score, sde, x_T, N, noise=z, last_step_noise=last)
        np.testing.assert_array_equal(_np(a), _np(b))


@pytest.mark.parametrize("order", ["predictor_first", "corrector_first"])
def test_pc_seed_equals_explicit_noise_layout(order):
    """noise[k, 0] is the predictor's draw and noise[k, 1 + j] the j-th corrector's; with a seed the draws
    are made in run order."""
    sde, x_T, m = refsde.VPSDE(), _x_T(), 2
    gen = refsde.make_rng(5, BACKEND)
    steps = []
    for _ in range(N):
        draws = [gen.normal(SHAPE) for _ in range(1 + m)]
        if order == "corrector_first":  # run order C_1, C_2, P
            draws = [draws[m]] + draws[:m]
        steps.append(XP.stack(draws))
    z = XP.stack(steps)
    kw = dict(corrector="langevin", n_corrector_steps=m, order=order)
    a, _ = sample_pc(_score, sde, x_T, N, rng=5, **kw)
    b, _ = sample_pc(_score, sde, x_T, N, noise=z, **kw)
    np.testing.assert_array_equal(_np(a), _np(b))
    # a list of per-step arrays and a list of lists give the same result
    c, _ = sample_pc(_score, sde, x_T, N, noise=[z[k, ...] for k in range(N)], **kw)
    d, _ = sample_pc(_score, sde, x_T, N, noise=[[z[k, j, ...] for j in range(1 + m)] for k in range(N)], **kw)
    np.testing.assert_array_equal(_np(a), _np(c))
    np.testing.assert_array_equal(_np(a), _np(d))


def test_pc_orders_differ_path_by_path():
    sde, x_T = refsde.VESDE(), _x_T(refsde.VESDE())
    z = _noise((N, 2))
    a, _ = sample_pc(_score, sde, x_T, N, noise=z, order="predictor_first")
    b, _ = sample_pc(_score, sde, x_T, N, noise=z, order="corrector_first")
    assert not np.allclose(_np(a), _np(b))


def test_last_step_noise_false_returns_the_mean():
    """Only the last step's noise is dropped: zeroing noise[-1] gives the same result."""
    sde, x_T = refsde.VPSDE(), _x_T()
    z = _np(_noise((N,)))
    z0 = z.copy()
    z0[-1] = 0.0
    a, _ = sample_sde(_score, sde, x_T, N, noise=BACKEND.asarray(z), last_step_noise=False)
    b, _ = sample_sde(_score, sde, x_T, N, noise=BACKEND.asarray(z0))
    np.testing.assert_allclose(_np(a), _np(b), rtol=1e-14, atol=1e-14)


def test_batch_norm_couples_samples_and_per_sample_norms_do_not():
    sde = refsde.VESDE()
    x_np = _np(_x_T(sde))
    z = _noise((N, 2))
    y_np = x_np.copy()
    y_np[0] *= 3.0  # change sample 0 only
    for batch_norm, coupled in ((False, False), (True, True)):
        kw = dict(predictor=None, corrector="langevin", batch_norm=batch_norm, noise=z)
        a, _ = sample_pc(_score, sde, BACKEND.asarray(x_np), N, **kw)
        b, _ = sample_pc(_score, sde, BACKEND.asarray(y_np), N, **kw)
        others_equal = np.array_equal(_np(a)[1:], _np(b)[1:])
        assert others_equal != coupled


def test_langevin_with_zero_score_does_not_move():
    sde, x_T = refsde.VESDE(), _x_T(refsde.VESDE())
    x, _ = sample_pc(lambda x, t: 0.0 * x, sde, x_T, N, predictor=None, corrector="langevin", rng=0)
    np.testing.assert_array_equal(_np(x), _np(x_T))


def test_ancestral_exact_ve_last_index_is_identity():
    """Exact VE, var_0 = 0: the last step (k = n - 1) always uses chain level 0, which neither moves nor adds
    noise (no NaN from 0/0)."""
    sde = refsde.VESDE()
    n = 10
    x_T = _x_T(sde)
    z = _noise((n,))
    for eps in (1e-3, 0.3):  # eps = 0.3: floor(t_{n-1} (n - 1) / T) would be 3, not 0
        seen = []

        def score(x, t):
            seen.append(_np(x))
            return _score(x, t)

        a, _ = sample_sde(score, sde, x_T, n, eps=eps, method="ancestral", noise=z)
        b, _ = sample_sde(_score, sde, x_T, n, eps=eps, method="ancestral", noise=z, last_step_noise=False)
        assert np.all(np.isfinite(_np(a)))
        np.testing.assert_array_equal(_np(a), _np(b))
        np.testing.assert_array_equal(_np(a), seen[-1])  # the last step returns its input


# ---------------------------------------------------------------------------------------------------
# bookkeeping, time argument, dtype, grid
# ---------------------------------------------------------------------------------------------------


def test_nfe_and_info():
    sde, x_T = refsde.VPSDE(), _x_T()
    _, info = sample_sde(_score, sde, x_T, N, rng=0, denoise=True)
    assert isinstance(info, SampleInfo)
    assert (info.nfe, info.n_accepted, info.n_rejected, info.method) == (N + 1, N, 0, "euler_maruyama")
    assert tuple(info.grid.shape) == (N + 1,)
    assert sample_pc(_score, sde, x_T, N, rng=0, n_corrector_steps=3)[1].nfe == 4 * N
    assert sample_pc(_score, sde, x_T, N, rng=0, corrector=None)[1].nfe == N
    assert sample_pc(_score, sde, x_T, N, rng=0, predictor=None, n_corrector_steps=2)[1].nfe == 2 * N
    assert sample_ode(_score, sde, x_T, N, method="rk4", denoise=True)[1].nfe == 4 * N + 1


def test_score_receives_0d_times_of_x_dtype():
    sde, x_T = refsde.VPSDE(), _x_T()
    seen = []

    def score(x, t):
        seen.append((tuple(t.shape), t.dtype, float(t)))
        return _score(x, t)

    sample_sde(score, sde, x_T, N, rng=0)
    grid = np.linspace(1.0, 1e-3, N + 1)
    assert all(shape == () and dtype == x_T.dtype for shape, dtype, _ in seen)
    np.testing.assert_allclose([t for *_, t in seen], grid[:-1], rtol=1e-15)
    seen.clear()
    sample_ode(score, sde, x_T, 4, method="rk4")
    g = np.linspace(1.0, 1e-3, 5)
    h = g[0] - g[1]
    np.testing.assert_allclose([t for *_, t in seen[:4]], [g[0], g[0] - h / 2, g[0] - h / 2, g[1]], rtol=1e-14)


@pytest.mark.parametrize("run", ["sde", "pc", "ode"])
def test_float32_in_float32_out(run):
    sde = refsde.VPSDE()
    x_T = _x_T(sde, dtype=XP.float32)
    if run == "sde":
        x, info = sample_sde(_score, sde, x_T, N, rng=0, denoise=True)
    elif run == "pc":
        x, info = sample_pc(_score, sde, x_T, N, noise=_noise((N, 2), dtype=XP.float64))
    else:
        x, info = sample_ode(_score, sde, x_T, N, method="heun")
    assert x.dtype == XP.float32 and info.grid.dtype == XP.float32
    assert np.all(np.isfinite(_np(x)))


def test_score_of_other_dtype_is_cast_to_x_dtype():
    sde, x_T = refsde.VPSDE(), _x_T()
    x, _ = sample_ode(lambda x, t: XP.astype(_score(x, t), XP.float32), sde, x_T, 5)
    assert x.dtype == x_T.dtype


def test_time_grid():
    sde = refsde.VESDE(T=2.0)
    g = time_grid(sde, 8, 0.01, like=_x_T(sde))
    np.testing.assert_array_equal(_np(g), np.linspace(2.0, 0.01, 9))
    assert float(g[0]) == 2.0 and float(g[-1]) == 0.01
    assert time_grid(sde, 3, 0.5, like=_x_T(sde, dtype=XP.float32)).dtype == XP.float32
    assert tuple(time_grid(sde, 3).shape) == (4,)


def test_progress_flag_runs_with_or_without_tqdm():
    sde, x_T = refsde.VPSDE(), _x_T()
    a, _ = sample_sde(_score, sde, x_T, N, rng=0, progress=True)
    b, _ = sample_sde(_score, sde, x_T, N, rng=0)
    np.testing.assert_array_equal(_np(a), _np(b))
    sample_pc(_score, sde, x_T, N, rng=0, progress=True)
    sample_ode(_score, sde, x_T, N, progress=True)


def test_ve_time_rescaled_sde_runs():
    sde = refsde.VESDE(T=2.0)
    kw = dict(eps=0.01, predictor="ancestral", corrector="annealed_langevin", rng=0)
    x, info = sample_pc(_score, sde, _x_T(sde), N, **kw)
    assert np.all(np.isfinite(_np(x))) and float(info.grid[0]) == 2.0


# ---------------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------------

SAMPLERS = {
    "sde": lambda **kw: sample_sde(_score, refsde.VPSDE(), kw.pop("x_T", _x_T()), kw.pop("n", N), **kw),
    "pc": lambda **kw: sample_pc(_score, refsde.VPSDE(), kw.pop("x_T", _x_T()), kw.pop("n", N), **kw),
    "ode": lambda **kw: sample_ode(_score, refsde.VPSDE(), kw.pop("x_T", _x_T()), kw.pop("n", N), **kw),
}


@pytest.mark.parametrize("run", list(SAMPLERS))
@pytest.mark.parametrize("eps", [0.0, -1e-3, 1.0, 2.0, float("nan")])
def test_bad_eps(run, eps):
    with pytest.raises(ValueError, match="eps"):
        SAMPLERS[run](eps=eps)


@pytest.mark.parametrize("run", list(SAMPLERS))
@pytest.mark.parametrize("n", [0, -3, 2.5, True, "10"])
def test_bad_n_steps(run, n):
    with pytest.raises(ValueError, match="n_steps"):
        SAMPLERS[run](n=n)


@pytest.mark.parametrize("run", list(SAMPLERS))
def test_score_with_wrong_shape_or_nan(run):
    sde, x_T = refsde.VPSDE(), _x_T()
    fn = {"sde": sample_sde, "pc": sample_pc, "ode": sample_ode}[run]
    with pytest.raises(ValueError, match="shape"):
        fn(lambda x, t: x[:, :1], sde, x_T, N)
    with pytest.raises(ValueError, match="NaN"):
        fn(lambda x, t: x * float("nan"), sde, x_T, N)


@pytest.mark.parametrize(
    "run,kw",
    [
        ("sde", dict(method="heun")),
        ("pc", dict(predictor="euler")),
        ("pc", dict(corrector="ald")),
        ("pc", dict(order="both")),
        ("ode", dict(method="rk23")),
    ],
)
def test_unknown_names(run, kw):
    with pytest.raises(ValueError, match="unknown"):
        SAMPLERS[run](**kw)


@pytest.mark.parametrize(
    "run,kw,match",
    [
        ("sde", dict(method="ancestral", n=1), "n_steps >= 2"),
        ("sde", dict(method="reverse_diffusion", n=10), "beta_max"),  # DDPM betas >= 1
        ("sde", dict(method="ancestral", n=20), "beta_max"),
        ("pc", dict(corrector="langevin", predictor=None, n=15), "beta_max"),
        ("pc", dict(predictor=None, corrector=None), "both be None"),
        ("pc", dict(snr=0.0), "snr"),
        ("pc", dict(snr=-1.0), "snr"),
        ("pc", dict(n_corrector_steps=0), "n_corrector_steps"),
        ("sde", dict(rng=0, noise=None, x_T=None), "x_T"),
    ],
)
def test_bad_options(run, kw, match):
    if kw.get("x_T", 1) is None:  # 0-d state
        kw["x_T"] = BACKEND.asarray(1.0)
    with pytest.raises(ValueError, match=match):
        SAMPLERS[run](**kw)


def test_ancestral_needs_vp_or_ve():
    with pytest.raises(ValueError, match="VPSDE and VESDE"):
        sample_sde(_score, refsde.SubVPSDE(), _x_T(), N, method="ancestral")
    with pytest.raises(ValueError, match="VPSDE and VESDE"):
        sample_pc(_score, refsde.SubVPSDE(), _x_T(), N, predictor="ancestral")


def test_bad_noise():
    x_T = _x_T()
    with pytest.raises(ValueError, match="shape"):
        sample_sde(_score, refsde.VPSDE(), x_T, N, noise=_noise((N - 1,)))
    with pytest.raises(ValueError, match="shape"):
        sample_pc(_score, refsde.VPSDE(), x_T, N, noise=_noise((N,)))  # needs (N, 2, ...)
    with pytest.raises(ValueError, match="entries"):
        sample_sde(_score, refsde.VPSDE(), x_T, N, noise=[_noise(())] * (N + 1))
    with pytest.raises(ValueError, match="not both"):
        sample_sde(_score, refsde.VPSDE(), x_T, N, noise=_noise((N,)), rng=0)
    z = _np(_noise((N,)))
    z[3, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        sample_sde(_score, refsde.VPSDE(), x_T, N, noise=BACKEND.asarray(z))


def test_bad_state():
    with pytest.raises(ValueError, match="NaN"):
        sample_sde(_score, refsde.VPSDE(), BACKEND.asarray(np.full(SHAPE, math.nan)), N)
    with pytest.raises(TypeError):
        sample_sde(_score, refsde.VPSDE(), [[0.0, 1.0]], N)
    with pytest.raises(TypeError):
        sample_sde(_score, refsde.VPSDE(), BACKEND.asarray(np.zeros(SHAPE, dtype=np.int64)), N)
