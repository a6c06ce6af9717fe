"""Checks of the forward SDEs (family A), each run for VPSDE(), SubVPSDE(), VESDE() (exact marginal)
and VESDE(convention="score_sde").

Every check function has the signature ``fn(ctx, sde) -> Outcome`` so that it can be applied to any
SDE object (tests/test_validation.py feeds it deliberately wrong SDEs to prove the checks can fail);
the registered checks bind the four SDEs above.

Deterministic checks compute in float64 whatever the backend's default dtype; the simulation of
:func:`em_law_samples` runs in the backend's default dtype (``--dtype``), its reference law in float64.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import refsde
from refsde.testing import _stats as stats

from . import euler_maruyama as em
from . import finite_differences as fd
from .registry import Context, Outcome, SkipCheck, register

#: The SDEs every family-A check runs on: (label, factory).
SDE_CASES: list[tuple[str, Callable[[], Any]]] = [
    ("VP", lambda: refsde.VPSDE()),
    ("subVP", lambda: refsde.SubVPSDE()),
    ("VE", lambda: refsde.VESDE()),
    ("VE-score_sde", lambda: refsde.VESDE(convention="score_sde")),
]

#: Data distribution of the simulation checks: N(MU, SIGMA) in d = 3.
MU = [0.5, -1.0, 2.0]
SIGMA = [[1.0, 0.3, -0.2], [0.3, 0.5, 0.1], [-0.2, 0.1, 2.0]]

#: Family-wise false-alarm rate of every statistical check (Bonferroni over its sub-tests).
ALPHA = 1e-6
POWER = 0.99
TINY = 1e-300


def _rel(xp: Any, a: Any, b: Any) -> Any:
    """|a - b| / max(|a|, |b|) elementwise, 0 where both are 0."""
    den = xp.maximum(xp.maximum(xp.abs(a), xp.abs(b)), xp.asarray(TINY, dtype=a.dtype, device=_dev(a)))
    return xp.abs(a - b) / den


def _dev(x: Any) -> Any:
    from array_api_compat import device

    return device(x)


def _max(ctx: Context, x: Any) -> float:
    return ctx.scalar(ctx.xp.max(x))


# ---------------------------------------------------------------------------------------------------
# A1. float32 precision of the marginal std near t = 0
# ---------------------------------------------------------------------------------------------------
FLOAT32_TIMES = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3]


def float32_std(ctx: Context, sde: Any) -> Outcome:
    """sigma_t computed from float32 t agrees with the float64 value at the same (float32-rounded) t.

    statistic: max over t in {1e-7, ..., 1e-3} of |sigma32 - sigma64| / sigma64; threshold 1e-6
    (8.4 float32 ulps).  A stable closed form (expm1/log1p) is accurate to a few ulps; the naive
    sqrt(1 - exp(-B)) gives sigma = 0 in float32 at t = 1e-7 (relative error 1).  The float64 value is
    evaluated at the float32 value of t, so the rounding of t itself is not counted.
    """
    xp = ctx.xp
    if not hasattr(xp, "float32"):
        raise SkipCheck("backend has no float32")
    t32 = ctx.asarray(FLOAT32_TIMES, dtype=xp.float32)
    s32 = sde.sigma(t32)
    if s32.dtype != xp.float32:
        return Outcome(math.inf, 1e-6, f"sigma(float32 t) returned dtype {s32.dtype}, not float32")
    s64 = sde.sigma(xp.astype(t32, ctx.f64(0.0).dtype))
    rel = xp.abs(xp.astype(s32, s64.dtype) - s64) / s64
    worst = int(ctx.numpy(xp.argmax(rel)))
    return Outcome(_max(ctx, rel), 1e-6, f"worst at t={FLOAT32_TIMES[worst]:g}")


# ---------------------------------------------------------------------------------------------------
# A2. marginal variance ODE and d log alpha / dt = f
# ---------------------------------------------------------------------------------------------------
def _interior_grid(ctx: Context, T: float) -> tuple[Any, Any]:
    ts = [1e-3, 1e-2, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999]
    t = ctx.f64([s * T for s in ts])
    h = ctx.f64([min(5e-4, s / 20.0, (1.0 - s) / 4.0) * T for s in ts])
    return t, h


def variance_ode(ctx: Context, sde: Any) -> Outcome:
    """d sigma_t^2 / dt = 2 f(t) sigma_t^2 + g(t)^2 and d log alpha_t / dt = f(t), by finite differences.

    The derivatives of sigma_t^2 (from ``sde.sigma``) and log alpha_t (``sde.log_alpha``) are fourth-order
    central differences in float64 on t/T in {1e-3, ..., 0.999} with step h = min(5e-4, t/20, (T-t)/4) T.
    statistic: the larger of max |D sigma^2 - 2 f sigma^2 - g^2| / (|2 f sigma^2| + g^2) and
    max |D log alpha - f| / max(|f|, |D log alpha|).  threshold 1e-7.  Error budget of correct code:
    truncation h^4 |v^(5)| / (30 |v'|) for v = sigma^2 is largest for sub-VP near t = 0.01-0.05, where
    v ~ B(t)^2 has v' ~ 1e-3 and |v^(5)| ~ 1e4 (B = 0.1 t + 9.95 t^2): ~2e-9; for VE (v' / v = 2L = 17)
    it is (17 h)^4 / 30 ~ 2e-10; rounding 1.5 eps |v| / (h |v'|) <= 1e-12 everywhere (h <= t/20 and
    v ~ t or t^2 near 0).  Measured: <= 2e-9.  A wrong factor in g^2, f or sigma gives a residual of
    order 1 (1e-2 or more for any error of 1% or more).
    """
    xp = ctx.xp
    t, h = _interior_grid(ctx, sde.T)
    f = sde.drift_coefficient(t)
    g2 = sde.diffusion_squared(t)
    var = sde.sigma(t) ** 2
    dvar = fd.derivative(lambda u: sde.sigma(u) ** 2, t, h)
    res_var = xp.abs(dvar - 2.0 * f * var - g2) / (xp.abs(2.0 * f * var) + xp.abs(g2))
    dla = fd.derivative(sde.log_alpha, t, h)
    res_la = _rel(xp, dla, f)
    rv, ra = _max(ctx, res_var), _max(ctx, res_la)
    return Outcome(max(rv, ra), 1e-7, f"variance residual {rv:.2e}, log-alpha residual {ra:.2e}")


# ---------------------------------------------------------------------------------------------------
# A3. log-SNR round trip
# ---------------------------------------------------------------------------------------------------
def log_snr_roundtrip(ctx: Context, sde: Any) -> Outcome:
    """t_from_log_snr(log_snr(t)) == t on t/T in {1e-6, 1e-4, 1e-2, 0.1, 0.3, 0.5, 0.7, 0.9, 1}, to
    rounding error, given the conditioning of the round trip.

    Rounding lambda (relative error c1 eps) moves the recovered t by c1 eps kappa(t) t, with
    kappa(t) = |lambda| / |t dlambda/dt| the condition number of t -> lambda's inverse; the inverse formula
    adds c2 eps.  kappa is O(1)-O(30) for VP, sub-VP and exact VE (sigma^2 ~ t near 0), but 5e5 for
    VE score_sde at t = 1e-6 (lambda ~ -2 log sigma_min hardly moves there), so the raw relative error
    of correct code ranges from 1e-16 to 1e-10.  statistic: max |t' - t| / (t max(1, kappa(t)))
    (kappa from a backward difference of ``log_snr`` with step 1e-4 t; only a scale); threshold 1e-12
    (c1 + c2 up to ~4500).  A wrong inverse is off by O(1), or by >= its relative error / kappa.
    Also fails if log_snr is not strictly decreasing on the grid.
    """
    xp = ctx.xp
    grid = [1e-6, 1e-4, 1e-2, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
    t = ctx.f64([s * sde.T for s in grid])
    lam = sde.log_snr(t)
    back = sde.t_from_log_snr(lam)
    rel = xp.abs(back - t) / t
    dlam = (lam - sde.log_snr(t * (1.0 - 1e-4))) / (1e-4 * t)
    kappa = xp.abs(lam) / xp.abs(t * dlam)
    stat_arr = rel / xp.maximum(kappa, xp.ones_like(kappa))
    decreasing = bool(ctx.numpy(xp.all(lam[1:] < lam[:-1])))
    stat = _max(ctx, stat_arr)
    lam_np, k_np, r_np = ctx.numpy(lam), ctx.numpy(kappa), ctx.numpy(rel)
    detail = f"lambda in [{lam_np.min():.3g}, {lam_np.max():.3g}], kappa <= {k_np.max():.3g}, max |t'-t|/t = {r_np.max():.2e}"
    if not decreasing:
        return Outcome(math.inf, 1e-12, "log_snr is not decreasing in t; " + detail)
    return Outcome(stat, 1e-12, detail)


# ---------------------------------------------------------------------------------------------------
# A4. ScheduleSDE built from the closed forms reproduces the class
# ---------------------------------------------------------------------------------------------------
def schedule_agreement(ctx: Context, sde: Any) -> Outcome:
    """ScheduleSDE(alpha=sde.alpha, sigma=sde.sigma) has the class's f(t), g(t)^2 and log-SNR inverse.

    ScheduleSDE derives f = alpha'/alpha and g^2 = d sigma^2/dt - 2 f sigma^2 by its own fourth-order
    differences (step h = min(1e-4 T, max(t/3, 1e-6 T)); one-sided near 0 and T); its t_from_log_snr
    is a bisection.  statistic: max relative difference of f, of g^2 and of t_from_log_snr(lambda) on
    t/T in {1e-6, 1e-4, 1e-2, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1} (the log-SNR inverse from 0.05 T,
    where the bisection's absolute resolution T 2^-64 is not what is judged); threshold 1e-7.
    Truncation h^4 |v^(5)| / (5 |v'|) is below 1e-11 at h = 1e-4 T; roundoff eps |v| / h stays below
    5e-9 at the 1e-6 T floor (measured: g^2 within 6e-10, f within 5e-9).  The step shrinking with t keeps
    the relative accuracy of coefficients that vanish like t (sub-VP g^2 = beta (1 - e^{-2B})).
    """
    xp = ctx.xp
    sched = refsde.ScheduleSDE(alpha=sde.alpha, sigma=sde.sigma, T=sde.T)
    grid = [1e-6, 1e-4, 1e-2, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0]
    t = ctx.f64([s * sde.T for s in grid])
    rf = _max(ctx, _rel(xp, sched.drift_coefficient(t), sde.drift_coefficient(t)))
    rg = _max(ctx, _rel(xp, sched.diffusion_squared(t), sde.diffusion_squared(t)))
    t_inv = ctx.f64([s * sde.T for s in grid if s >= 0.05])
    rt = _max(ctx, _rel(xp, sched.t_from_log_snr(sde.log_snr(t_inv)), t_inv))
    detail = f"f {rf:.2e}, g^2 {rg:.2e}, t(lambda) {rt:.2e}"
    return Outcome(max(rf, rg, rt), 1e-7, detail)


# ---------------------------------------------------------------------------------------------------
# A5. forward simulation vs the marginal, via the exact law of Euler-Maruyama
# ---------------------------------------------------------------------------------------------------
EM_STEPS = 32  # simulation steps on [0, T] (snapshots at T/4, T/2, T); any K works, the law is exact
EM_SNAPSHOTS = (EM_STEPS // 4, EM_STEPS // 2, EM_STEPS)
EM_REL_VAR = 0.02  # relative variance error the sample test must detect (power 0.99)


def start_law(ctx: Context, sde: Any, law: em.MixtureLaw) -> em.MixtureLaw:
    """The law at t = 0 of the process whose marginals the SDE claims for data ``law``:
    components N(alpha_0 m_k, alpha_0^2 C_k + sigma_0^2 I) (sigma_0 = sigma_min for VE score_sde, whose
    t = 0 is already noised; alpha_0 = 1, sigma_0 = 0 otherwise)."""
    a0, s0 = sde.marginal_coefficients(ctx.f64(0.0))
    return law.affine(ctx.xp, a0, s0 * s0)


def gaussian_data(ctx: Context) -> em.MixtureLaw:
    return em.MixtureLaw(ctx.f64([1.0]), ctx.f64([MU]), ctx.f64([SIGMA]))


def sample_law(ctx: Context, law: em.MixtureLaw, n: int, rng: Any, dtype: Any) -> Any:
    """n draws of a one-component law as mean + z L^T, z ~ N(0, I) from the backend RNG."""
    xp = ctx.xp
    L = xp.linalg.cholesky(law.covs[0, ...])
    z = rng.normal((n, law.means.shape[1]), dtype=dtype)
    x = law.means[0, :][None, :] + xp.astype(z, L.dtype) @ xp.matrix_transpose(L)
    return xp.astype(x, dtype)


def em_sample_size(n_sub: int) -> int:
    return stats.n_for_variance_ratio(EM_REL_VAR, ALPHA / n_sub, POWER)


def em_law_samples(ctx: Context, sde: Any, n: int | None = None) -> Outcome:
    """Euler-Maruyama paths of the SDE from N(mu, Sigma) data match the exact law of the EM recursion.

    x_0 ~ N(alpha_0 mu, alpha_0^2 Sigma + sigma_0^2 I) (d = 3) is drawn as mean + z L^T with the backend
    RNG, then K = 32 EM steps with ``sde.sde`` are taken; at k = 8, 16, 32 (t = T/4, T/2, T) the samples
    are tested against N(a_k m_0, a_k^2 C_0 + v_k I), the exact EM law (see validation/checks/euler_maruyama.py), whose
    a_k, v_k come from ``drift_coefficient`` / ``diffusion_squared``: one chi-square mean test and six
    exact chi-square variance tests (directions e_j and (e_j + e_k)/sqrt 2) per time, m = 21 sub-tests.
    alpha = 1e-6 for the check (Bonferroni: 1e-6/21 per sub-test).

    Sample size: a variance error of 2% along a direction must be detected with power 0.99 by its
    two-sided sub-test at 1e-6/21: n = 2 (z_{1-alpha'/2} + z_0.99 (1.02))^2 / 0.02^2 = 306,769
    (z_{1-alpha'/2} = 5.46; :func:`stats.n_for_variance_ratio`).  At this n the mean test detects a shift
    of ~0.015 standard deviations.  statistic: largest normal-equivalent |z| of the 21 p-values;
    threshold: z_{1 - alpha/(2 m)} = 5.46.  (The closed-form marginal itself is verified by
    :func:`em_gap_order`; this check verifies the simulation path sde.sde() and the RNG against the
    coefficients.)
    """
    xp = ctx.xp
    n_sub = len(EM_SNAPSHOTS) * em.n_subtests(3, mixture=False)
    n = em_sample_size(n_sub) if n is None else n
    law0 = start_law(ctx, sde, gaussian_data(ctx))
    rng = ctx.rng("em")
    dtype = ctx.backend.default_dtype
    x0 = sample_law(ctx, law0, n, rng, dtype)
    paths = em.simulate_em(sde, x0, EM_STEPS, EM_SNAPSHOTS, rng)
    a, v = em.em_scalars(ctx, sde, EM_STEPS)
    pvals = []
    for k in EM_SNAPSHOTS:
        law_k = law0.affine(xp, a[k], v[k])
        pvals += em.sample_tests(ctx, paths[k], law_k, label=f"t={k * sde.T / EM_STEPS:g}")
    zmax, zcrit, detail = em.summarize(pvals, ALPHA)
    return Outcome(zmax, zcrit, f"n={n}, K={EM_STEPS}; {detail}")


GAP_STEPS = (1024, 2048)


def em_gap(ctx: Context, sde: Any, law: em.MixtureLaw, K: int, snapshots_frac: tuple[float, ...] = (0.25, 0.5, 1.0)) -> list[float]:
    """Relative gap between the EM law (K steps on [0, T]) and the closed-form marginal at t = frac T:
    max(|a_k alpha_0 - alpha_t| / alpha_t, max|C_em - C_t| / max|C_t|) with C_t = alpha_t^2 Sigma + sigma_t^2 I
    (Sigma the overall covariance of the data ``law``)."""
    xp = ctx.xp
    a, v = em.em_scalars(ctx, sde, K)
    law0 = start_law(ctx, sde, law)
    _, C0 = law0.moments(xp)
    _, Sig = law.moments(xp)
    a0, _ = sde.marginal_coefficients(ctx.f64(0.0))
    d = Sig.shape[0]
    eye = xp.eye(d, dtype=Sig.dtype, device=_dev(Sig))
    gaps = []
    for frac in snapshots_frac:
        k = int(round(frac * K))
        at, st = sde.marginal_coefficients(ctx.f64(frac * sde.T))
        C_em = a[k] ** 2 * C0 + v[k] * eye
        C_t = at**2 * Sig + st**2 * eye
        g_mean = ctx.scalar(xp.abs(a[k] * a0 - at) / at)
        g_cov = ctx.scalar(xp.max(xp.abs(C_em - C_t)) / xp.max(xp.abs(C_t)))
        gaps.append(max(g_mean, g_cov))
    return gaps


def em_gap_order(ctx: Context, sde: Any, law: em.MixtureLaw | None = None) -> Outcome:
    """The exact EM law converges to the closed-form marginal N(alpha_t mu, alpha_t^2 Sigma + sigma_t^2 I)
    at order 1 in dt (deterministic, float64).

    gap(K) as in :func:`em_gap` at t = T/4, T/2, T for K = 1024 and 2048 steps; observed order
    p = log2(gap(K) / gap(2K)) per time.  statistic: max |p - 1|; threshold 0.1.  For a consistent
    closed form Euler's global error is c dt + O(dt^2) with |f| dt <= 0.01 here, so p = 1 +- 0.02; if the
    marginal disagrees with the SDE coefficients (wrong g^2, f or sigma), the gap tends to a constant and
    p -> 0.
    """
    law = gaussian_data(ctx) if law is None else law
    g1 = em_gap(ctx, sde, law, GAP_STEPS[0])
    g2 = em_gap(ctx, sde, law, GAP_STEPS[1])
    orders = [math.log2(a / b) if a > 0 and b > 0 else (1.0 if a == b == 0 else math.nan) for a, b in zip(g1, g2)]
    stat = max(abs(p - 1.0) for p in orders) if not any(math.isnan(p) for p in orders) else math.nan
    detail = "orders " + ", ".join(f"{p:.4f}" for p in orders) + f"; gap(K={GAP_STEPS[1]}) " + ", ".join(f"{g:.2e}" for g in g2)
    return Outcome(stat, 0.1, detail)


# ---------------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------------
CHECKS: list[tuple[str, Callable[[Context, Any], Outcome]]] = [
    ("float32_std", float32_std),
    ("variance_ode", variance_ode),
    ("log_snr_roundtrip", log_snr_roundtrip),
    ("schedule_agreement", schedule_agreement),
    ("em_gap_order", em_gap_order),
    ("em_law_samples", em_law_samples),
]


def _bind(fn: Callable[[Context, Any], Outcome], factory: Callable[[], Any]) -> Callable[[Context], Outcome]:
    return lambda ctx: fn(ctx, factory())


for _check_name, _fn in CHECKS:
    for _label, _factory in SDE_CASES:
        register(f"sde.{_check_name}[{_label}]", _bind(_fn, _factory), family="sde")
