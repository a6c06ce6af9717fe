"""Checks of the analytic oracles in :mod:`refsde.gaussian` (family B), for each of the four SDEs.

The oracles are checked against facts that do not use their own formulas: finite differences of
their log-densities, the Fokker-Planck equation, an independent evaluation of the mixture marginal
density, the change-of-variables formula, and samples of the forward SDE.  Data: a Gaussian
N(MU, SIGMA) and a 3-component mixture in d = 3 (see :data:`MIX_WEIGHTS` etc.).

Finite-difference steps are relative to the smallest length scale l_t of p_t,
l_t^2 = alpha_t^2 lambda_min + sigma_t^2 (lambda_min: smallest eigenvalue of the data covariances),
h = 1e-3 l_t, so every fourth-order stencil has a truncation error ~1e-12 and a rounding error
~eps |log p| / (1e-3)^k relative to the derivative's natural scale l_t^-k (k = 1, 2): well below the
1e-6 threshold of the FD checks (see validation/checks/finite_differences.py), while errors in the formulas are O(1).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from refsde.testing import _stats as stats

from . import euler_maruyama as em
from . import finite_differences as fd
from .forward_sde import ALPHA, MU, POWER, SDE_CASES, SIGMA, _dev, start_law
from .registry import Context, Outcome, SkipCheck, register

MIX_WEIGHTS = [0.2, 0.5, 0.3]
MIX_MEANS = [[-2.0, 0.0, 1.0], [1.0, 1.0, -1.0], [0.5, -2.0, 0.0]]
MIX_COVS = [
    [[0.3, 0.1, 0.0], [0.1, 0.4, -0.05], [0.0, -0.05, 0.2]],
    [[0.5, -0.2, 0.1], [-0.2, 0.6, 0.0], [0.1, 0.0, 0.3]],
    [[0.2, 0.0, 0.05], [0.0, 0.25, 0.1], [0.05, 0.1, 0.5]],
]
#: Smallest eigenvalue of the data covariances (Gaussian: 0.3407; mixture: 0.1814), for l_t.
LAMBDA_MIN = {"gaussian": 0.3406761, "mixture": 0.1813859}
FD_THRESHOLD = 1e-6
EXACT_THRESHOLD = 1e-10


# ---------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------
def _api() -> Any:
    """The refsde.gaussian module, or SkipCheck while it does not provide the oracle API yet."""
    try:
        import refsde.gaussian as G
    except Exception as exc:  # noqa: BLE001
        raise SkipCheck(f"refsde.gaussian cannot be imported: {type(exc).__name__}: {exc}") from exc
    missing = [n for n in ("Gaussian", "GaussianMixture", "ExactScore") if not hasattr(G, n)]
    if missing or not hasattr(getattr(G, "Gaussian", object), "flow_map"):
        raise SkipCheck(f"refsde.gaussian does not provide the oracle API yet (missing {missing or ['Gaussian.flow_map']})")
    return G


def data(ctx: Context, kind: str) -> Any:
    """The test distribution ``kind`` ('gaussian' or 'mixture') as a refsde.gaussian object."""
    G = _api()
    if kind == "gaussian":
        return G.Gaussian(ctx.f64(MU), ctx.f64(SIGMA))
    return G.GaussianMixture(ctx.f64(MIX_WEIGHTS), ctx.f64(MIX_MEANS), ctx.f64(MIX_COVS))


def data_law(ctx: Context, kind: str) -> em.MixtureLaw:
    """The same distribution as plain arrays (independent of refsde.gaussian)."""
    if kind == "gaussian":
        return em.MixtureLaw(ctx.f64([1.0]), ctx.f64([MU]), ctx.f64([SIGMA]))
    return em.MixtureLaw(ctx.f64(MIX_WEIGHTS), ctx.f64(MIX_MEANS), ctx.f64(MIX_COVS))


def marginal_law(ctx: Context, sde: Any, kind: str, t: float) -> em.MixtureLaw:
    """p_t written out: components N(alpha_t m_k, alpha_t^2 C_k + sigma_t^2 I) from sde.marginal_coefficients."""
    a, s = sde.marginal_coefficients(ctx.f64(t))
    return data_law(ctx, kind).affine(ctx.xp, a, s * s)


def length_scale(ctx: Context, sde: Any, kind: str, t: float) -> float:
    a, s = sde.marginal_coefficients(ctx.f64(t))
    a, s = ctx.scalar(a), ctx.scalar(s)
    return math.sqrt(a * a * LAMBDA_MIN[kind] + s * s)


def points(ctx: Context, dist_t: Any, n: int, stream: str) -> Any:
    """n points of p_t: half drawn from it, half pushed 3x further from the mean (tails)."""
    xp = ctx.xp
    x = dist_t.sample(n, rng=ctx.rng(stream))
    mean = xp.mean(x, axis=0)
    half = n // 2
    return xp.concat([x[:half, :], mean[None, :] + 3.0 * (x[half:, :] - mean[None, :])], axis=0)


def _scaled_err(xp: Any, a: Any, b: Any, scale: Any) -> Any:
    """|a - b| / (|b| + scale), elementwise."""
    return xp.abs(a - b) / (xp.abs(b) + scale)


def _vmax(ctx: Context, x: Any) -> float:
    return ctx.scalar(ctx.xp.max(x))


def log_density(ctx: Context, law: em.MixtureLaw, x: Any) -> Any:
    """log sum_k w_k N(x; m_k, C_k), evaluated independently of refsde.gaussian (Cholesky, inverse,
    logsumexp), shape (n,)."""
    xp = ctx.xp
    d = x.shape[1]
    terms = []
    for k in range(law.n_components):
        L = xp.linalg.cholesky(law.covs[k, ...])
        w = (x - law.means[k, :][None, :]) @ xp.matrix_transpose(xp.linalg.inv(L))
        logdet = 2.0 * xp.sum(xp.log(xp.linalg.diagonal(L)))
        terms.append(xp.log(law.weights[k]) - 0.5 * xp.sum(w * w, axis=1) - 0.5 * logdet - 0.5 * d * math.log(2 * math.pi))
    a = xp.stack(terms, axis=0)
    m = xp.max(a, axis=0)
    return m + xp.log(xp.sum(xp.exp(a - m[None, :]), axis=0))


ORACLE_TIMES = (1e-3, 0.1, 0.5, 1.0)
KINDS = ("gaussian", "mixture")


# ---------------------------------------------------------------------------------------------------
# B0. marginal density against an independent evaluation
# ---------------------------------------------------------------------------------------------------
def marginal_density(ctx: Context, sde: Any) -> Outcome:
    """dist.marginal(sde, t).log_prob(x) and ExactScore's log-density equal log p_t computed here from
    the SDE's (alpha_t, sigma_t) and the data parameters (components N(alpha_t m_k, alpha_t^2 C_k +
    sigma_t^2 I), Cholesky + logsumexp), for the Gaussian and the mixture at t/T in {1e-3, 0.1, 0.5, 1}.

    statistic: max |log p - log p_ref| / (1 + |log p_ref|); threshold 1e-10 (two float64 evaluations of
    the same number through different factorizations: ~cond(S) d eps ~ 1e-14).
    """
    xp = ctx.xp
    worst = 0.0
    for kind in KINDS:
        dist = data(ctx, kind)
        score_fn = dist.score_fn(sde)
        for frac in ORACLE_TIMES:
            t = frac * sde.T
            p_t = dist.marginal(sde, t)
            x = points(ctx, p_t, 32, f"{kind}{frac}")
            ref = log_density(ctx, marginal_law(ctx, sde, kind, t), x)
            worst = max(worst, _vmax(ctx, _scaled_err(xp, p_t.log_prob(x), ref, 1.0)))
            if hasattr(score_fn, "log_prob"):
                worst = max(worst, _vmax(ctx, _scaled_err(xp, score_fn.log_prob(x, t), ref, 1.0)))
    return Outcome(worst, EXACT_THRESHOLD, "")


# ---------------------------------------------------------------------------------------------------
# B1. score = gradient of log_prob; Hessian / divergence = derivatives of the score
# ---------------------------------------------------------------------------------------------------
def score_fd(ctx: Context, sde: Any) -> Outcome:
    """score = grad log_prob, divergence = Laplacian of log_prob, hessian = Jacobian of the score, by
    fourth-order central differences (float64, step h = 1e-3 l_t, see the module docstring).

    For the Gaussian and the mixture at t/T in {1e-3, 0.1, 0.5, 1}, on 24 points of p_t (half in the
    tails): p_t.score(x) and score_fn(x, t) against FD of p_t.log_prob; score_fn.divergence against the
    FD Laplacian of log_prob; score_fn.hessian against the FD Jacobian of score_fn.
    statistic: max |exact - FD| / (|exact| + l_t^-k) (k = 1 for scores, 2 for second derivatives);
    threshold 1e-6.
    """
    xp = ctx.xp
    errs = {"score": 0.0, "score_fn": 0.0, "divergence": 0.0, "hessian": 0.0}
    for kind in KINDS:
        dist = data(ctx, kind)
        score_fn = dist.score_fn(sde)
        for frac in ORACLE_TIMES:
            t = frac * sde.T
            p_t = dist.marginal(sde, t)
            ell = length_scale(ctx, sde, kind, t)
            h = 1e-3 * ell
            x = points(ctx, p_t, 24, f"{kind}{frac}")
            _, grad, lap = fd.grad_laplacian(xp, p_t.log_prob, x, h)
            errs["score"] = max(errs["score"], _vmax(ctx, _scaled_err(xp, p_t.score(x), grad, 1.0 / ell)))
            errs["score_fn"] = max(errs["score_fn"], _vmax(ctx, _scaled_err(xp, score_fn(x, t), grad, 1.0 / ell)))
            errs["divergence"] = max(errs["divergence"], _vmax(ctx, _scaled_err(xp, score_fn.divergence(x, t), lap, 1.0 / ell**2)))
            jac = fd.jacobian(xp, lambda y: score_fn(y, t), x, h)
            errs["hessian"] = max(errs["hessian"], _vmax(ctx, _scaled_err(xp, score_fn.hessian(x, t), jac, 1.0 / ell**2)))
    stat = max(errs.values())
    return Outcome(stat, FD_THRESHOLD, ", ".join(f"{k} {v:.1e}" for k, v in errs.items()))


def score_autodiff(ctx: Context, sde: Any) -> Outcome:
    """score == gradient of log_prob by the backend's automatic differentiation (``backend.jvp`` along
    each axis), for p_t.log_prob and for the Gaussian and the mixture at t/T in {1e-3, 0.1, 0.5, 1}.
    Runs only where ``backend.exact_jvp`` is True (torch, jax).  statistic: max |score - J e_j| /
    (|J e_j| + 1/l_t); threshold 1e-10 (both are exact up to rounding)."""
    backend = ctx.backend
    if not getattr(backend, "exact_jvp", False):
        raise SkipCheck(f"backend {backend.name} has no exact jvp (score_fd covers it by finite differences)")
    xp = ctx.xp
    worst = 0.0
    for kind in KINDS:
        dist = data(ctx, kind)
        for frac in ORACLE_TIMES:
            t = frac * sde.T
            p_t = dist.marginal(sde, t)
            ell = length_scale(ctx, sde, kind, t)
            x = points(ctx, p_t, 16, f"{kind}{frac}")
            s = p_t.score(x)
            n, d = x.shape
            for j in range(d):
                e = xp.zeros((n, d), dtype=x.dtype, device=_dev(x))
                e = e + ctx.f64([1.0 if i == j else 0.0 for i in range(d)])[None, :]
                _, dj = backend.jvp(p_t.log_prob, x, e)
                worst = max(worst, _vmax(ctx, _scaled_err(xp, s[:, j], dj, 1.0 / ell)))
    return Outcome(worst, EXACT_THRESHOLD, "")


def score_fn_consistency(ctx: Context, sde: Any) -> Outcome:
    """ExactScore agrees with itself and with the marginals: score_fn(x, t) for t a float, a 0-d array
    and a per-sample (n,) array of different times equals p_t.score(x) row by row; hessian is
    symmetric; divergence = trace(hessian).  statistic: max relative difference (scaled by 1/l_t or
    1/l_t^2); threshold 1e-10 (rounding only)."""
    xp = ctx.xp
    worst = 0.0
    fracs = ORACLE_TIMES
    for kind in KINDS:
        dist = data(ctx, kind)
        score_fn = dist.score_fn(sde)
        xs, refs, ts = [], [], []
        for frac in fracs:
            t = frac * sde.T
            p_t = dist.marginal(sde, t)
            ell = length_scale(ctx, sde, kind, t)
            x = points(ctx, p_t, 8, f"{kind}{frac}")
            ref = p_t.score(x)
            for t_form in (t, ctx.f64(t)):
                worst = max(worst, _vmax(ctx, _scaled_err(xp, score_fn(x, t_form), ref, 1.0 / ell)))
            H = score_fn.hessian(x, t)
            asym = xp.abs(H - xp.matrix_transpose(H))
            worst = max(worst, _vmax(ctx, asym) * ell * ell)
            tr = xp.sum(xp.linalg.diagonal(H), axis=1)
            worst = max(worst, _vmax(ctx, _scaled_err(xp, score_fn.divergence(x, t), tr, 1.0 / ell**2)))
            xs.append(x)
            refs.append(ref * ell)
            ts.append(ctx.f64([t] * x.shape[0]))
        # per-sample times: one call with an (n,) time array
        x_all, t_all = xp.concat(xs, axis=0), xp.concat(ts, axis=0)
        ells = xp.concat([ctx.f64([length_scale(ctx, sde, kind, f * sde.T)] * 8) for f in fracs], axis=0)
        got = score_fn(x_all, t_all) * ells[:, None]
        worst = max(worst, _vmax(ctx, _scaled_err(xp, got, xp.concat(refs, axis=0), 1.0)))
    return Outcome(worst, EXACT_THRESHOLD, "")


# ---------------------------------------------------------------------------------------------------
# B2. Fokker-Planck equation
# ---------------------------------------------------------------------------------------------------
def fokker_planck(ctx: Context, sde: Any) -> Outcome:
    """The marginals solve the Fokker-Planck equation dp/dt = -div(f(t) x p) + g(t)^2/2 Lap p.

    Divided by p, with l = log p_t:  dl/dt = -f (d + x.grad l) + g^2/2 (Lap l + |grad l|^2).
    Every derivative is a finite difference of ``marginal(sde, t).log_prob`` only (time step
    5e-4 T, space step 1e-3 l_t), on 16 points (half in the tails) at t/T in {0.1, 0.5, 0.9}, for the
    Gaussian and the mixture.  statistic: max |lhs - rhs| / (|dl/dt| + |f| (d + |x.grad l|) +
    g^2/2 (|Lap l| + |grad l|^2)); threshold 1e-6 (time truncation (5e-4 r)^4/30 ~ 1e-12 for rates
    r <= 20; time rounding eps |l| / 5e-4 ~ 1e-11; space terms as in score_fd).  A marginal with a
    wrong alpha_t or sigma_t, or an SDE whose f, g^2 do not match its marginal, gives O(1).
    """
    xp = ctx.xp
    worst = 0.0
    ht = 5e-4 * sde.T
    for kind in KINDS:
        dist = data(ctx, kind)
        for frac in (0.1, 0.5, 0.9):
            t = frac * sde.T
            p_t = dist.marginal(sde, t)
            ell = length_scale(ctx, sde, kind, t)
            x = points(ctx, p_t, 16, f"{kind}{frac}")
            d = x.shape[1]
            dldt = None
            for k, c in ((-2, 1.0 / 12.0), (-1, -8.0 / 12.0), (1, 8.0 / 12.0), (2, -1.0 / 12.0)):
                term = c * dist.marginal(sde, t + k * ht).log_prob(x)
                dldt = term if dldt is None else dldt + term
            dldt = dldt / ht
            _, grad, lap = fd.grad_laplacian(xp, p_t.log_prob, x, 1e-3 * ell)
            f = sde.drift_coefficient(ctx.f64(t))
            g2 = sde.diffusion_squared(ctx.f64(t))
            xg = xp.sum(x * grad, axis=1)
            gg = xp.sum(grad * grad, axis=1)
            rhs = -f * (d + xg) + 0.5 * g2 * (lap + gg)
            scale = xp.abs(dldt) + xp.abs(f) * (d + xp.abs(xg)) + 0.5 * g2 * (xp.abs(lap) + gg)
            worst = max(worst, _vmax(ctx, xp.abs(dldt - rhs) / scale))
    return Outcome(worst, FD_THRESHOLD, "")


# ---------------------------------------------------------------------------------------------------
# B3. a one-component mixture is the Gaussian
# ---------------------------------------------------------------------------------------------------
def one_component_mixture(ctx: Context, sde: Any) -> Outcome:
    """GaussianMixture([1], [m], [C]) equals Gaussian(m, C): log_prob and score of the data and of the
    marginals at t/T in {1e-3, 0.1, 0.5, 1}, and score_fn, divergence and hessian.
    statistic: max |mixture - gaussian| / (|gaussian| + scale) (scale 1 for log p, 1/l_t for scores,
    1/l_t^2 for second derivatives); threshold 1e-10."""
    G = _api()
    xp = ctx.xp
    g = G.Gaussian(ctx.f64(MU), ctx.f64(SIGMA))
    gm = G.GaussianMixture(ctx.f64([1.0]), ctx.f64([MU]), ctx.f64([SIGMA]))
    x = points(ctx, g, 16, "data")
    worst = max(_vmax(ctx, _scaled_err(xp, gm.log_prob(x), g.log_prob(x), 1.0)), _vmax(ctx, _scaled_err(xp, gm.score(x), g.score(x), 1.0)))
    sg, sm = g.score_fn(sde), gm.score_fn(sde)
    for frac in ORACLE_TIMES:
        t = frac * sde.T
        ell = length_scale(ctx, sde, "gaussian", t)
        gt, mt = g.marginal(sde, t), gm.marginal(sde, t)
        x = points(ctx, gt, 16, f"m{frac}")
        pairs = [
            (mt.log_prob(x), gt.log_prob(x), 1.0),
            (mt.score(x), gt.score(x), 1.0 / ell),
            (sm(x, t), sg(x, t), 1.0 / ell),
            (sm.divergence(x, t), sg.divergence(x, t), 1.0 / ell**2),
            (sm.hessian(x, t), sg.hessian(x, t), 1.0 / ell**2),
        ]
        for a, b, sc in pairs:
            worst = max(worst, _vmax(ctx, _scaled_err(xp, a, b, sc)))
    return Outcome(worst, EXACT_THRESHOLD, "")


# ---------------------------------------------------------------------------------------------------
# B4. probability-flow map
# ---------------------------------------------------------------------------------------------------
FLOW_PAIRS = ((0.1, 0.6), (0.6, 0.1), (1e-3, 1.0), (1.0, 1e-3), (0.3, 0.3))


def flow_map_exact(ctx: Context, sde: Any) -> Outcome:
    """Exact identities of Gaussian.flow_map(sde, s, t, x) = (Phi_{s->t}(x), log|det dPhi/dx|):

    * change of variables: log p_t(Phi(x)) + logdet = log p_s(x);
    * group property: Phi_{t->u}(Phi_{s->t}(x)) = Phi_{s->u}(x), logdets add, and Phi_{t->s} o Phi_{s->t} = id;
    for (s, t)/T in {(0.1, 0.6), (0.6, 0.1), (1e-3, 1), (1, 1e-3), (0.3, 0.3)}, u = 0.8 T, on 16 points of
    p_s.  statistic: max of |log-density mismatch| / (1 + |log p_s|) and |map mismatch| / (|x| + l_s);
    threshold 1e-10 (rounding only).
    """
    xp = ctx.xp
    g = data(ctx, "gaussian")
    worst = 0.0
    u = 0.8 * sde.T
    for fs, ft in FLOW_PAIRS:
        s, t = fs * sde.T, ft * sde.T
        x = points(ctx, g.marginal(sde, s), 16, f"{fs}-{ft}")
        ell = length_scale(ctx, sde, "gaussian", s)
        y, logdet = g.flow_map(sde, s, t, x)
        lps = g.marginal(sde, s).log_prob(x)
        lpt = g.marginal(sde, t).log_prob(y)
        worst = max(worst, _vmax(ctx, xp.abs(lpt + logdet - lps) / (1.0 + xp.abs(lps))))
        z, ld2 = g.flow_map(sde, t, u, y)
        z_direct, ld_direct = g.flow_map(sde, s, u, x)
        xscale = xp.abs(z_direct) + length_scale(ctx, sde, "gaussian", u)
        worst = max(worst, _vmax(ctx, xp.abs(z - z_direct) / xscale))
        worst = max(worst, _vmax(ctx, xp.abs(logdet + ld2 - ld_direct) / (1.0 + xp.abs(ld_direct))))
        back, ld_back = g.flow_map(sde, t, s, y)
        worst = max(worst, _vmax(ctx, xp.abs(back - x) / (xp.abs(x) + ell)))
        worst = max(worst, _vmax(ctx, xp.abs(ld_back + logdet) / (1.0 + xp.abs(logdet))))
    return Outcome(worst, EXACT_THRESHOLD, "")


def flow_map_ode(ctx: Context, sde: Any) -> Outcome:
    """Phi_{s->t}(x) solves the probability-flow ODE dx/dt = f(t) x - g(t)^2/2 grad log p_t(x), and its
    logdet is log|det| of its Jacobian.

    d Phi_{s->t}(x) / dt by a fourth-order difference in t (step 5e-4 T) against
    f(t) Phi - g^2/2 score_fn(Phi, t), for (s, t)/T in {(0.1, 0.6), (0.6, 0.1), (1e-3, 0.9), (0.9, 0.3)};
    the Jacobian dPhi/dx by fourth-order differences in x (step 1e-3 l_s; exact up to rounding since Phi is
    affine) against logdet.  statistic: max of |dPhi/dt - rhs| / (|dPhi/dt| + |f Phi| + g^2/2 |score|)
    and |log|det J_FD| - logdet| / (1 + |logdet|); threshold 1e-6.
    """
    xp = ctx.xp
    g = data(ctx, "gaussian")
    score_fn = g.score_fn(sde)
    ht = 5e-4 * sde.T
    ode_err = jac_err = 0.0
    for fs, ft in ((0.1, 0.6), (0.6, 0.1), (1e-3, 0.9), (0.9, 0.3)):
        s, t = fs * sde.T, ft * sde.T
        x = points(ctx, g.marginal(sde, s), 16, f"{fs}-{ft}")
        y, logdet = g.flow_map(sde, s, t, x)
        dydt = None
        for k, c in ((-2, 1.0 / 12.0), (-1, -8.0 / 12.0), (1, 8.0 / 12.0), (2, -1.0 / 12.0)):
            term = c * g.flow_map(sde, s, t + k * ht, x)[0]
            dydt = term if dydt is None else dydt + term
        dydt = dydt / ht
        f = sde.drift_coefficient(ctx.f64(t))
        g2 = sde.diffusion_squared(ctx.f64(t))
        sc = score_fn(y, t)
        rhs = f * y - 0.5 * g2 * sc
        scale = xp.abs(dydt) + xp.abs(f * y) + 0.5 * g2 * xp.abs(sc)
        ode_err = max(ode_err, _vmax(ctx, xp.abs(dydt - rhs) / scale))
        J = fd.jacobian(xp, lambda z: g.flow_map(sde, s, t, z)[0], x, 1e-3 * length_scale(ctx, sde, "gaussian", s))
        ld_fd = xp.log(xp.abs(xp.linalg.det(J)))
        jac_err = max(jac_err, _vmax(ctx, xp.abs(ld_fd - logdet) / (1.0 + xp.abs(logdet))))
    return Outcome(max(ode_err, jac_err), FD_THRESHOLD, f"ODE residual {ode_err:.1e}, logdet vs FD Jacobian {jac_err:.1e}")


# ---------------------------------------------------------------------------------------------------
# B5. statistical: mixture marginal samples and forward-SDE samples against their exact laws
# ---------------------------------------------------------------------------------------------------
MIX_REL_VAR = 0.03
MIX_FRACS = (0.25, 0.5, 1.0)


def _mixture_subtests() -> int:
    return 2 * len(MIX_FRACS) * em.n_subtests(3, mixture=True, ks=True)


def mixture_sample_size() -> int:
    return stats.n_for_variance_ratio(MIX_REL_VAR, ALPHA / _mixture_subtests(), POWER)


def mixture_samples(ctx: Context, sde: Any, n: int | None = None) -> Outcome:
    """Samples of the mixture marginal and of the forward SDE from mixture data match their exact laws.

    Two samples of size n at each t in {T/4, T/2, T}:
    (i) ``gm.marginal(sde, t).sample(n)`` against p_t written out independently
        (components N(alpha_t m_k, alpha_t^2 C_k + sigma_t^2 I));
    (ii) Euler-Maruyama paths (K = 32 steps, ``sde.sde``) started from ``gm.marginal(sde, 0).sample(n)``
        against the exact law of the EM recursion from that start (each component propagated as in
        validation/checks/euler_maruyama.py: N(a_k alpha_0 m_k, a_k^2 S_k(0) + v_k I)) -- a null hypothesis
        that is exactly true at K = 32, so the EM bias cannot inflate the false-alarm rate; the bias itself
        is checked by ``oracle.mixture_em_gap_order``.
    Sub-tests per sample and time, after whitening by the law's overall mean and covariance, along the
    6 directions e_j, (e_j + e_k)/sqrt 2: CLT z-tests of the mean and of the second moment (variance of
    y^2 from the exact fourth moment of the mixture), and a Kolmogorov-Smirnov test against the exact
    projected mixture CDF (DKW-Massart bound, exact for every n): m = 2 x 3 x 18 = 108 sub-tests,
    alpha = 1e-6 in all (Bonferroni, 9.3e-9 each, |z| < 5.75).

    Sample size: a 3% error in a directional variance must be detected with power 0.99 when y^2 has the
    Gaussian variance 2: n = 2 (z_{1-alpha'/2} + z_0.99 (1.03))^2 / 0.03^2 = 147,241 (heavier-tailed
    directions, Var y^2 = kappa - 1 > 2, need an error sqrt((kappa - 1)/2) times larger); the KS
    sub-tests detect a CDF error of (sqrt(log(2/alpha')/2) + 1.63) / sqrt(n) = 0.012 with power 0.99.
    statistic: largest normal-equivalent |z| of the 108 p-values; threshold 5.75.
    """
    xp = ctx.xp
    gm = data(ctx, "mixture")
    n = mixture_sample_size() if n is None else n
    K = 32
    snaps = tuple(int(round(f * K)) for f in MIX_FRACS)
    dtype = ctx.backend.default_dtype
    pvals: list[tuple[str, float]] = []
    for frac in MIX_FRACS:
        t = frac * sde.T
        y = gm.marginal(sde, t).sample(n, rng=ctx.rng(f"marginal{frac}"))
        pvals += em.sample_tests(ctx, y, marginal_law(ctx, sde, "mixture", t), ks=True, label=f"p_t t={t:g}")
    x0 = gm.marginal(sde, 0.0).sample(n, rng=ctx.rng("x0"))
    x0 = x0 if x0.dtype == dtype else xp.astype(x0, dtype)
    paths = em.simulate_em(sde, x0, K, snaps, ctx.rng("em"))
    a, v = em.em_scalars(ctx, sde, K)
    law0 = start_law(ctx, sde, data_law(ctx, "mixture"))
    for k in snaps:
        pvals += em.sample_tests(ctx, paths[k], law0.affine(xp, a[k], v[k]), ks=True, label=f"EM t={k * sde.T / K:g}")
    zmax, zcrit, detail = em.summarize(pvals, ALPHA)
    return Outcome(zmax, zcrit, f"n={n}; {detail}")


def mixture_em_gap_order(ctx: Context, sde: Any) -> Outcome:
    """As sde.em_gap_order, for the mixture data: the exact EM law's overall mean and covariance
    converge at order 1 in dt to the closed-form alpha_t mean, alpha_t^2 Cov + sigma_t^2 I of the
    mixture.  statistic: max |order - 1|; threshold 0.1.  (Does not use refsde.gaussian.)"""
    from .forward_sde import em_gap_order

    return em_gap_order(ctx, sde, law=data_law(ctx, "mixture"))


# ---------------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------------
CHECKS: list[tuple[str, Callable[[Context, Any], Outcome]]] = [
    ("marginal_density", marginal_density),
    ("score_fd", score_fd),
    ("score_autodiff", score_autodiff),
    ("score_fn_consistency", score_fn_consistency),
    ("fokker_planck", fokker_planck),
    ("one_component_mixture", one_component_mixture),
    ("flow_map_exact", flow_map_exact),
    ("flow_map_ode", flow_map_ode),
    ("mixture_em_gap_order", mixture_em_gap_order),
    ("mixture_samples", mixture_samples),
]


def _bind(fn: Callable[[Context, Any], Outcome], factory: Callable[[], Any]) -> Callable[[Context], Outcome]:
    return lambda ctx: fn(ctx, factory())


for _check_name, _fn in CHECKS:
    for _label, _factory in SDE_CASES:
        register(f"oracle.{_check_name}[{_label}]", _bind(_fn, _factory), family="oracle")
