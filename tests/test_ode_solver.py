"""``refsde.ode.solve_ode``: fixed-step Euler / Heun / RK4 and adaptive Dormand-Prince RK45.

Reference problem: the linear ODE y' = c(t) M y with c(t) = 1 + sin(3t) / 2 and a fixed 2x2 M.  c(t) M
commute at all times, so the exact solution is y(t) = expm((C(t) - C(t0)) M) y(t0) with
C(t) = t - cos(3t) / 6 (computed with scipy.linalg.expm, independent of refsde).

* scipy equivalence (error_norm="batch"): same NFE and accepted/rejected step counts as
  ``scipy.integrate.solve_ivp(method="RK45")`` on the flattened batch at equal rtol/atol, and the same
  solution to 1e-12 relative.  Accepted times agree to 1e-6 relative only: the error estimate
  h sum_j E_j K_j cancels ~10 digits at tight tolerances, so summation order (ours vs numpy's dot) moves
  the next step size by ~1e-7 relative; counts and solutions are unaffected.
* Accuracy: global error below 20 tol and decreasing with tol (1e-4, 1e-6, 1e-8).
* error_norm="sample": every sample ends where solving it alone ends (to 1e-13) with the same counts.
* Fixed-step orders 1 / 2 / 4: log2(err(n) / err(2n)) within 0.15 of the order (n in the asymptotic regime:
  |h c M| <= 0.06 for Euler, 0.1 for Heun, 0.2 for RK4; RK4's smallest error ~1e-6 >> rounding).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from array_api_compat import device as device_of

import refsde
from refsde.ode import ODEInfo, solve_ode

try:
    from arrays_under_test import arr, be, np_
except ImportError:  # tests/ as a package
    from .arrays_under_test import arr, be, np_  # type: ignore[no-redef]

scipy_integrate = pytest.importorskip("scipy.integrate")
scipy_linalg = pytest.importorskip("scipy.linalg")

M_NP = np.array([[-0.5, 2.0], [-2.0, -0.3]])
Y0_NP = np.array([[1.0, 0.5], [0.2, -1.0], [3.0, 1.0]])
TOLS = [1e-4, 1e-6, 1e-8]
SPANS = [(0.0, 2.0), (2.0, 0.1)]  # forwards and backwards


def c_of_t(xp, t):
    c = 1.0 + 0.5 * xp.sin(3.0 * t)
    return xp.reshape(c, (c.shape[0], 1)) if c.ndim == 1 else c  # per-sample times -> (n, 1)


def linear_fun(t, y):
    """y' = c(t) M y for y of shape (n, 2) (rows are samples)."""
    xp = be().xp
    M = xp.asarray(arr(M_NP), dtype=y.dtype)
    return (y @ M.T) * c_of_t(xp, t)


def exact(y0, t0, t1):
    big_c = lambda t: t - math.cos(3.0 * t) / 6.0  # C' = c
    return y0 @ scipy_linalg.expm((big_c(t1) - big_c(t0)) * M_NP).T


def scipy_rk45(y0, t0, t1, tol):
    n = y0.shape[0]

    def flat(t, y):
        return (y.reshape(n, 2) @ M_NP.T * (1.0 + 0.5 * math.sin(3.0 * t))).ravel()

    return scipy_integrate.solve_ivp(flat, (t0, t1), y0.ravel(), method="RK45", rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------------------
# RK45 against scipy
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("t0,t1", SPANS)
@pytest.mark.parametrize("tol", TOLS)
def test_rk45_matches_scipy_step_by_step(t0, t1, tol):
    y1, info = solve_ode(linear_fun, arr(Y0_NP), t0, t1, rtol=tol, atol=tol)
    ref = scipy_rk45(Y0_NP, t0, t1, tol)
    assert ref.success
    n_acc = ref.t.size - 1
    assert (info.nfe, info.n_accepted) == (ref.nfev, n_acc)
    assert info.nfe == 2 + 6 * (info.n_accepted + info.n_rejected)  # f0 + initial-step probe + 6 per attempt
    np.testing.assert_allclose(np_(y1).ravel(), ref.y[:, -1], rtol=1e-12, atol=1e-12 * np.abs(ref.y).max())
    ts = np_(info.ts)
    assert ts[0] == t0 and ts[-1] == t1 and ts.shape == (n_acc + 1,)
    np.testing.assert_allclose(ts, ref.t, rtol=1e-6)


def test_rk45_matches_scipy_rejections():
    # a stiff-ish start forces rejections; scipy's count is the reference (rejected = (nfev - 2) / 6 - accepted)
    y0 = Y0_NP * 30.0
    y1, info = solve_ode(linear_fun, arr(y0), 0.0, 3.0, rtol=1e-7, atol=1e-9)
    ref = scipy_integrate.solve_ivp(
        lambda t, y: (y.reshape(3, 2) @ M_NP.T * (1.0 + 0.5 * math.sin(3.0 * t))).ravel(),
        (0.0, 3.0), y0.ravel(), method="RK45", rtol=1e-7, atol=1e-9,
    )
    n_rej_ref = (ref.nfev - 2) // 6 - (ref.t.size - 1)
    assert (info.nfe, info.n_accepted, info.n_rejected) == (ref.nfev, ref.t.size - 1, n_rej_ref)
    np.testing.assert_allclose(np_(y1).ravel(), ref.y[:, -1], rtol=1e-12, atol=1e-12 * np.abs(ref.y).max())


# ---------------------------------------------------------------------------------------------------
# accuracy against the exact solution
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("error_norm", ["batch", "sample"])
@pytest.mark.parametrize("t0,t1", SPANS)
@pytest.mark.slow
def test_rk45_global_error_tracks_tolerance(t0, t1, error_norm):
    ex = exact(Y0_NP, t0, t1)
    errs = []
    for tol in TOLS:
        y1, _ = solve_ode(linear_fun, arr(Y0_NP), t0, t1, rtol=tol, atol=tol, error_norm=error_norm)
        errs.append(np.abs(np_(y1) - ex).max())
        assert errs[-1] < 20.0 * tol * max(1.0, np.abs(ex).max())
    assert errs[0] > errs[1] > errs[2]


# ---------------------------------------------------------------------------------------------------
# per-sample error control
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("t0,t1", SPANS)
@pytest.mark.slow
def test_sample_norm_equals_solving_each_sample_alone(t0, t1):
    y0 = np.concatenate([Y0_NP, 40.0 * Y0_NP[:1]])  # samples of very different scales take different steps
    seen = []

    def fun(t, y):
        seen.append(tuple(t.shape))
        return linear_fun(t, y)

    y1, info = solve_ode(fun, arr(y0), t0, t1, rtol=1e-7, atol=1e-7, error_norm="sample")
    assert set(seen) == {(y0.shape[0],)}  # every call gets per-sample times
    acc, rej = np_(info.accepted_per_sample), np_(info.rejected_per_sample)
    assert info.ts is None and info.n_accepted == acc.max() and info.n_rejected == rej.max()
    for i in range(y0.shape[0]):
        yi, ii = solve_ode(linear_fun, arr(y0[i : i + 1]), t0, t1, rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(np_(y1)[i], np_(yi)[0], rtol=1e-13, atol=1e-13)
        assert (acc[i], rej[i]) == (ii.n_accepted, ii.n_rejected)
    assert len(set(acc.tolist())) > 1  # the samples did take different step sequences


# ---------------------------------------------------------------------------------------------------
# fixed-step methods
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,order,n", [("euler", 1, 200), ("heun", 2, 100), ("rk4", 4, 40)])
@pytest.mark.parametrize("t0,t1", SPANS)
def test_fixed_step_orders(method, order, n, t0, t1):
    ex = exact(Y0_NP, t0, t1)
    errs = []
    for steps in (n, 2 * n):
        y1, info = solve_ode(linear_fun, arr(Y0_NP), t0, t1, method=method, n_steps=steps)
        errs.append(np.abs(np_(y1) - ex).max())
        assert info == ODEInfo(order_evals(method) * steps, steps, 0, method, steps, info.ts)
        grid = np_(info.ts)
        np.testing.assert_allclose(grid, np.linspace(t0, t1, steps + 1), rtol=1e-15, atol=1e-15)
    assert abs(math.log2(errs[0] / errs[1]) - order) < 0.15


def order_evals(method):
    return {"euler": 1, "heun": 2, "rk4": 4}[method]


def test_fixed_step_single_step_formulas():
    # y' = y from 0 to h, one step: Euler 1 + h, Heun 1 + h + h^2/2, RK4 the degree-4 Taylor polynomial
    h = 0.3
    for method, expected in [("euler", 1 + h), ("heun", 1 + h + h**2 / 2), ("rk4", sum(h**k / math.factorial(k) for k in range(5)))]:
        y1, _ = solve_ode(lambda t, y: y, arr([1.0]), 0.0, h, method=method, n_steps=1)
        assert abs(float(np_(y1)[0]) - expected) < 1e-15


# ---------------------------------------------------------------------------------------------------
# state layouts, dtype and device
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["euler", "rk4", "rk45"])
@pytest.mark.slow
def test_tuple_state_matches_single_array(method):
    # (y, s) with s' = sum of y's components per sample: s(t1) = s0 + integral, y unaffected by s
    xp = be().xp
    kw = dict(n_steps=30) if method != "rk45" else dict(rtol=1e-8, atol=1e-8)

    def fun(t, state):
        y, s = state
        return linear_fun(t, y), xp.sum(y, axis=1)

    (y1, s1), info = solve_ode(fun, (arr(Y0_NP), arr(np.zeros(3))), 0.0, 1.0, method=method, **kw)
    assert tuple(s1.shape) == (3,)
    if method != "rk45":  # same steps: the y-part is bitwise the single-array solution
        y_alone, _ = solve_ode(linear_fun, arr(Y0_NP), 0.0, 1.0, method=method, **kw)
        np.testing.assert_array_equal(np_(y1), np_(y_alone))
    else:
        np.testing.assert_allclose(np_(y1), exact(Y0_NP, 0.0, 1.0), atol=1e-6)
        # s(1) = sum_i integral_0^1 y_i: (expm(C M) - I) (C M)^{-1} would need c constant; check against a
        # fine RK4 solution of the same augmented system instead (independent step sequence)
        (_, s_ref), _ = solve_ode(fun, (arr(Y0_NP), arr(np.zeros(3))), 0.0, 1.0, method="rk4", n_steps=200)
        np.testing.assert_allclose(np_(s1), np_(s_ref), atol=1e-7)


@pytest.mark.parametrize("method", ["heun", "rk45"])
@pytest.mark.parametrize("error_norm", ["batch", "sample"])
def test_dtype_and_device_preserved(method, error_norm):
    kw = dict(n_steps=100) if method != "rk45" else dict(rtol=1e-4, atol=1e-4, error_norm=error_norm)
    for dtype in ("float32", "float64"):
        y0 = arr(Y0_NP, dtype)
        times = []

        def fun(t, y):
            times.append(t)
            return linear_fun(t, y)

        y1, info = solve_ode(fun, y0, 0.0, 1.0, method=method, **kw)
        assert type(y1) is type(y0) and y1.dtype == y0.dtype and device_of(y1) == device_of(y0)
        assert all(t.dtype == y0.dtype for t in times)
        assert all(tuple(t.shape) == ((3,) if method == "rk45" and error_norm == "sample" else ()) for t in times)
        np.testing.assert_allclose(np_(y1), exact(Y0_NP, 0.0, 1.0), atol=2e-3)  # heun h = 0.01: error ~5e-4
        assert isinstance(info.nfe, int) and isinstance(info.n_accepted, int) and isinstance(info.n_rejected, int)


def test_equal_endpoints_and_options():
    y0 = arr(Y0_NP)
    y1, info = solve_ode(linear_fun, y0, 0.5, 0.5)
    np.testing.assert_array_equal(np_(y1), Y0_NP)
    assert (info.nfe, info.n_accepted) == (0, 0)
    # first_step replaces the initial-step probe (one fewer evaluation); sync_every changes no result
    ref, ref_info = solve_ode(linear_fun, y0, 0.0, 1.0, rtol=1e-6, atol=1e-6)
    y_sync, sync_info = solve_ode(linear_fun, y0, 0.0, 1.0, rtol=1e-6, atol=1e-6, sync_every=7)
    np.testing.assert_array_equal(np_(y_sync), np_(ref))
    assert (sync_info.n_accepted, sync_info.n_rejected) == (ref_info.n_accepted, ref_info.n_rejected)
    y_fs, fs_info = solve_ode(linear_fun, y0, 0.0, 1.0, rtol=1e-6, atol=1e-6, first_step=1e-3)
    assert fs_info.nfe == 1 + 6 * (fs_info.n_accepted + fs_info.n_rejected)
    np.testing.assert_allclose(np_(y_fs), exact(Y0_NP, 0.0, 1.0), atol=2e-5)


# ---------------------------------------------------------------------------------------------------
# bad input and failures
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(method="rk23"), "unknown ODE method"),
        (dict(method="euler"), "needs n_steps"),
        (dict(method="rk4", n_steps=0), "n_steps"),
        (dict(method="heun", n_steps=2.5), "n_steps"),
        (dict(method="rk45", n_steps=10), "n_steps must be None"),
        (dict(rtol=0.0), "rtol"),
        (dict(rtol=float("nan")), "rtol"),
        (dict(atol=-1e-6), "atol"),
        (dict(error_norm="max"), "error_norm"),
        (dict(first_step=0.0), "first_step"),
        (dict(first_step=5.0), "first_step"),
        (dict(max_steps=0), "max_steps"),
        (dict(t1=float("nan")), "t1"),
    ],
)
def test_bad_arguments(kw, match):
    kw = dict(kw)
    t1 = kw.pop("t1", 1.0)
    with pytest.raises(ValueError, match=match):
        solve_ode(linear_fun, arr(Y0_NP), 0.0, t1, **kw)


def test_bad_states():
    xp = be().xp
    with pytest.raises(ValueError, match="NaN or inf"):
        solve_ode(linear_fun, arr([[1.0, float("nan")]]), 0.0, 1.0)
    with pytest.raises(ValueError, match="batch size"):
        solve_ode(lambda t, y: y, (arr(np.ones((3, 2))), arr(np.ones(2))), 0.0, 1.0)
    with pytest.raises(ValueError, match="batch-first"):
        solve_ode(lambda t, y: y, arr(1.0), 0.0, 1.0)
    with pytest.raises(ValueError, match="shape"):
        solve_ode(lambda t, y: y[:, :1], arr(Y0_NP), 0.0, 1.0)
    with pytest.raises(ValueError, match="returned 1 arrays"):
        solve_ode(lambda t, y: (y[0],), (arr(Y0_NP), arr(np.ones(3))), 0.0, 1.0)
    with pytest.raises(TypeError):
        solve_ode(lambda t, y: y, arr(np.ones((3, 2)), "int64") if hasattr(xp, "int64") else 1, 0.0, 1.0)


@pytest.mark.parametrize("method,kw", [("rk45", {}), ("rk4", dict(n_steps=10)), ("rk45", dict(error_norm="sample"))])
def test_non_finite_state_names_the_time(method, kw):
    xp = be().xp

    def fun(t, y):  # finite for t < 0.5, NaN from then on
        bad = xp.where(t < 0.5, xp.zeros_like(t), xp.full_like(t, float("nan")))
        bad = xp.reshape(bad, (bad.shape[0], 1)) if bad.ndim == 1 else bad
        return y + bad

    with pytest.raises(ValueError, match=r"NaN or inf .*t = ") as err:
        solve_ode(fun, arr(Y0_NP), 0.0, 1.0, method=method, **kw)
    when = float(str(err.value).split("t = ")[1].split()[0])
    # the fixed grid names the first bad grid time; rk45 the start of the first step whose stages hit t >= 0.5
    assert (when == 0.5) if method == "rk4" else (0.0 <= when < 0.5)


def test_max_steps_exceeded():
    with pytest.raises(RuntimeError, match="max_steps=3"):
        solve_ode(linear_fun, arr(Y0_NP), 0.0, 2.0, rtol=1e-10, atol=1e-10, max_steps=3)


@pytest.mark.slow
def test_step_size_underflow_raises():
    # y' = 0 before t = 1, 1e6 after: any step straddling t = 1 is rejected until it is 10 ulp long
    xp = be().xp

    def fun(t, y):
        jump = xp.where(t < 1.0, xp.zeros_like(t), xp.full_like(t, 1e6))
        return xp.zeros_like(y) + (xp.reshape(jump, (-1, 1)) if jump.ndim else jump)

    with pytest.raises(RuntimeError, match="step size"):
        solve_ode(fun, arr(np.zeros((1, 1))), 0.0, 2.0, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method,kw", [("rk45", {}), ("heun", dict(n_steps=5))])
def test_progress_bar_changes_nothing(method, kw):
    y0 = arr(Y0_NP)
    quiet, info = solve_ode(linear_fun, y0, 0.0, 1.0, method=method, **kw)
    shown, info_shown = solve_ode(linear_fun, y0, 0.0, 1.0, method=method, progress=True, **kw)
    np.testing.assert_array_equal(np_(shown), np_(quiet))
    assert info_shown.nfe == info.nfe


def test_rtol_floor_follows_the_state_dtype() -> None:
    # floor max(100 float64 ulp, 10 state ulp): 1e-12 is fine for float64, below float32's 1.19e-6; 1e-5 is allowed
    # in float32 (the usual likelihood tolerance)
    xp = refsde.get_backend().xp
    y32 = xp.ones((2, 3), dtype=xp.float32)
    with pytest.raises(ValueError, match="10 ulp of the state's dtype"):
        solve_ode(lambda t, y: -y, y32, 0.0, 1.0, rtol=1e-12, atol=1e-12)
    y1_32, _ = solve_ode(lambda t, y: -y, y32, 0.0, 1.0, rtol=1e-5, atol=1e-5)
    assert abs(float(refsde.get_backend().to_numpy(y1_32)[0, 0]) - math.exp(-1.0)) < 1e-4
    y64 = xp.ones((2, 3), dtype=xp.float64)
    y1, _ = solve_ode(lambda t, y: -y, y64, 0.0, 1.0, rtol=1e-12, atol=1e-12)
    assert abs(float(refsde.get_backend().to_numpy(y1)[0, 0]) - math.exp(-1.0)) < 1e-10


@pytest.mark.parametrize("in_place", [True, False])
@pytest.mark.parametrize("per_sample", [False, True])
def test_stage_stack_combines_like_a_weighted_sum(in_place, per_sample):
    # the stacked-stage combination used by RK45 (one matmul per combination) against a plain weighted sum,
    # in both storage modes: slice-assigned buffers and the list fallback for immutable arrays (JAX)
    from refsde.ode._state import StageStack

    xp = be().xp
    rng = np.random.default_rng(7)
    shapes = [(4, 3), (4, 2, 5)]
    vectors = [[rng.standard_normal(s) for s in shapes] for _ in range(5)]
    stack = StageStack(xp, tuple(arr(v) for v in vectors[0]), 5, in_place=in_place)
    assert (stack.lists is None) == in_place
    for slot, v in enumerate(vectors):
        stack.put(slot, tuple(arr(a) for a in v))
    weights = rng.standard_normal((4, 3)) if per_sample else rng.standard_normal(3)
    coefs = arr(weights[:, None, :]) if per_sample else arr(weights[None, :])
    combined = stack.combine(coefs, 1, 4)  # slots 1, 2, 3
    for i, shape in enumerate(shapes):
        w = weights.reshape((4,) + (1,) * (len(shape) - 1) + (3,)) if per_sample else weights
        expected = sum(w[..., j] * vectors[1 + j][i] for j in range(3))
        assert tuple(combined[i].shape) == shape
        np.testing.assert_allclose(np_(combined[i]), expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("t0,t1", SPANS)
@pytest.mark.parametrize("tol", [1e-4, 1e-8])
def test_host_step_control_matches_the_array_step_control(t0, t1, tol):
    # error_norm="batch" runs its step control in host floats with the default sync_every=1 and as 0-d array
    # arithmetic with sync_every > 1: the same scipy algorithm, so the same steps and, in float64, the same
    # solution to rounding (the state is a tuple: one StageStack buffer holding both arrays)
    y0 = (arr(Y0_NP), arr(Y0_NP[:, 0] * 0.5))

    def fun(t, y):
        return linear_fun(t, y[0]), -y[1] * c_of_t(be().xp, t)

    host, hi = solve_ode(fun, y0, t0, t1, rtol=tol, atol=tol)
    array, ai = solve_ode(fun, y0, t0, t1, rtol=tol, atol=tol, sync_every=2)
    assert (hi.n_accepted, hi.n_rejected) == (ai.n_accepted, ai.n_rejected)
    assert hi.n_attempts == hi.n_accepted + hi.n_rejected and hi.nfe == 2 + 6 * hi.n_attempts
    for a, b in zip(host, array):
        np.testing.assert_allclose(np_(a), np_(b), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np_(hi.ts), np_(ai.ts), rtol=1e-9, atol=1e-12)
    assert float(np_(hi.ts)[-1]) == t1


def test_host_coefficients_are_the_closed_forms():
    # the likelihood's host-float f(t), g(t)^2 (rk45's host step control passes its time) equal the device
    # formulas in float64 for the closed-form SDEs, and are not used for any other SDE
    from refsde.likelihood.flow import host_coefficients
    from refsde.sde.reverse import solver_coefficients
    from refsde.sde.schedule import EDMSchedule

    class MyVP(refsde.VPSDE):
        pass

    for sde in (refsde.VPSDE(), refsde.SubVPSDE(), refsde.VESDE(), EDMSchedule()):
        for t in (1e-5, 0.37, 1.0):
            expected = [float(v) for v in solver_coefficients(sde, np.asarray(t, dtype=np.float64))]
            assert host_coefficients(sde, t) == pytest.approx(expected, rel=1e-15, abs=0.0)
    assert host_coefficients(MyVP(), 0.5) is None  # a subclass may override the formulas with device code
    assert host_coefficients(refsde.ScheduleSDE.from_alphas_cumprod(np.linspace(0.99, 0.01, 20)), 0.5) is None
