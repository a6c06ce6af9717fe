"""Conformance checks for samplers: reverse-SDE samplers and probability-flow ODE samplers.

The check chooses the data: Gaussian N(m, C), d = 3, C's eigenvalues (0.02, 0.5, 2), a fixed rotation
(:func:`refsde.testing._laws.default_case`), and gives the candidate its exact score ``score_fn(x, t)``
(:class:`refsde.gaussian.ExactScore`: t a float, 0-d or (n,) array; x of shape (n, d), any dtype of the
check's backend).  ``x_T`` is drawn from the *prior* pi of ``ref`` (``ref.prior_sample``), not from p_T.
Every comparison is made in the eigen-coordinates y = Q^T x, where all schemes decouple
(:mod:`refsde.testing._laws`).  The candidate returns x (any array library) or refsde's pair (x, info).

``method`` names the scheme the candidate claims to implement, on refsde's conventions: grid
t_k = linspace(T, eps, n_steps + 1), coefficients and score at the left end t_k, noise on every step
(the last included), chain level i = n_steps - 1 - k of the N = n_steps DDPM / SMLD chain for
``reverse_diffusion`` and ``ancestral``.  ``method=None`` compares with the continuous-time target
instead, with an allowance for the discretization error at ``n_steps``.  Langevin correctors:
:mod:`refsde.testing.check_corrector` (re-exported here).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import _laws
from ._inputs import dtype_name
from ._sampler_setup import Ctx, check_common, check_probabilities, input_seed  # noqa: F401 (input_seed re-exported)
from ._stats import detectable_std_error, moment_tests, norm_isf, sample_size, z_two_sided
from .errors import ConformanceError
from .report import CheckReport

SDE_METHODS = _laws.SDE_SCHEMES
ODE_METHODS = _laws.ODE_SCHEMES
ALLOWANCE_FACTOR = 2.0  # method=None: allowance = 2 x the reference scheme's exact discretization error


def _default_steps(n_steps: int | None, method: str | None) -> int:
    """n_steps, or its default: 100 with a method (exact scheme law), 1000 for the continuous target."""
    if n_steps is not None:
        return n_steps
    return 100 if method is not None else 1000


# ---- reverse-SDE samplers ------------------------------------------------------------------------------
def check_sde_sampler(
    sampler_fn: Callable[[Any, Any, int], Any],
    ref: Any,
    n_steps: int | None = None,
    eps: float = 1e-3,
    method: str | None = None,
    *,
    alpha: float = 1e-6,
    seed: int = 0,
    backend: Any = None,
    dtype: Any = None,
    n: int | None = None,
    rel_std_error: float | None = None,
    power: float = 0.99,
) -> CheckReport:
    """Check ``sampler_fn(score_fn, x_T, n_steps) -> x`` (x at t = eps, shape (n, d)) against the exact law.

    Target (Gaussian in every eigen-coordinate j, mean M_j and variance V_j):

    * ``method`` in ``SDE_METHODS``: the exact law of that scheme at ``n_steps`` from x_T ~ pi, propagated
      through its affine-Gaussian recursion (:func:`refsde.testing._laws.scheme_law`); no allowance.
      ``"ddim"`` is DDIM with eta = 1 on the uniform-t grid (refsde's ``sample_ddim(..., eta=1)``).
    * ``method=None``: the law at eps of the exact reverse SDE from pi (closed form (*) in
      :mod:`refsde.testing._laws`), with per-coordinate allowances 2 |M_EM - M| on the mean and
      2 |V_EM / V - 1| on the variance, where (M_EM, V_EM) is the exact law of Euler-Maruyama at the same
      n_steps (a first-order scheme with its error constant measured on this very problem; a consistent
      first-order sampler with a comparable constant passes).  Note: refsde's chain-based
      ``reverse_diffusion`` / ``ancestral`` on VP are much further from the continuous law in the 0.02
      direction (variance +6% at n_steps = 1000) and are meant to be checked with ``method=``.

    Tests (Bonferroni, total false-alarm probability <= ``alpha`` over x_T and the candidate's noise): per
    coordinate a two-sided variance test against the band and a mean test (:mod:`refsde.testing._stats`),
    each at alpha / (2 d).  ``n`` (samples) defaults to the size that detects a relative std error
    ``rel_std_error`` beyond the band in one coordinate with probability ``power``: 3% with a method (about
    33k samples), 4% without (about 23k on VP at 1000 steps; the band is then 2 x EM's error, 0.7%).
    Defaults: n_steps = 100 with a method, 1000 without.  About 0.5 s / 4 s for refsde's samplers on NumPy.
    Raises :class:`ConformanceError`; ValueError for a method not defined for ``ref`` at ``n_steps``.
    """
    name = "check_sde_sampler"
    n_steps, eps = check_common(ref, _default_steps(n_steps, method), eps, method, SDE_METHODS)
    if method is not None and not _laws.scheme_applies(ref, method, n_steps):
        raise ValueError(f"method {method!r} is not defined for {ref!r} at n_steps = {n_steps} (see refsde.sampling)")
    check_probabilities(alpha=alpha, power=power)
    if rel_std_error is not None and not float(rel_std_error) > 0.0:
        raise ValueError(f"rel_std_error must be > 0, got {rel_std_error!r}")
    ctx = Ctx(name, ref, backend, dtype, _laws.default_case())
    d = ctx.case.d
    if method is None:
        M, V = _laws.reverse_sde_law(ref, ctx.case, eps)
        M_em, V_em = _laws.scheme_law(ref, ctx.case, "euler_maruyama", n_steps, eps)
        mean_allow = ALLOWANCE_FACTOR * np.abs(M_em - M)
        var_allow = np.minimum(ALLOWANCE_FACTOR * np.abs(V_em / V - 1.0), 0.5)
        target = (
            f"law at eps = {eps} of the exact reverse SDE from the prior "
            f"(allowance: 2 x Euler-Maruyama's error at {n_steps} steps)"
        )
    else:
        M, V = _laws.scheme_law(ref, ctx.case, method, n_steps, eps)
        mean_allow, var_allow = np.zeros(d), np.zeros(d)
        target = f"exact law of {method} at n_steps = {n_steps}, eps = {eps}"
    z_c = z_two_sided(alpha / (2 * d))
    a_max = float(np.max(var_allow))
    if rel_std_error is None:
        rel_std_error = 0.03 if method is not None else 0.04
    if n is None:
        n = sample_size(z_c, power, rel_std_error, a_max)
    n = int(n)
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    x_T, _ = ctx.prior(n, seed)
    y = ctx.output(sampler_fn(ctx.score_fn, x_T, n_steps), n, "sampler output")
    stats: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    moment_tests(name, "output", y, M, V, mean_allow, var_allow, z_c, stats, thresholds, reference=ctx.reference,
                 input=f"{n} samples, n_steps = {n_steps}, eps = {eps}, {target}")
    z = z_c + norm_isf(1.0 - power)
    detectable = {
        "relative std error of one eigen-direction": detectable_std_error(z_c, power, n, a_max),
        "mean offset / std of one eigen-direction": float(
            np.max((mean_allow + z * np.sqrt(V * (1 + var_allow) / n)) / np.sqrt(V))
        ),
    }
    stats["max variance allowance (relative)"] = a_max
    # sensitivity to a 5% noise-scale error, from the exact law of the same recursion with c -> 1.05 c
    _, V5 = _laws.scheme_law(ref, ctx.case, method or "euler_maruyama", n_steps, eps, noise_scale=1.05)
    _, V1 = _laws.scheme_law(ref, ctx.case, method or "euler_maruyama", n_steps, eps)
    stats["noise scale +5%: max relative std change"] = float(np.max(np.sqrt(V5 / V1))) - 1.0
    return CheckReport(
        check=name, reference=ctx.reference, properties=("output variance", "output mean"), n=n, statistics=stats,
        thresholds=thresholds, passed=True, alpha=alpha, power=power, detectable=detectable,
        backend=ctx.backend.name, dtype=dtype_name(ctx.backend, ctx.dtype),
        notes=(f"target: {target}", "false-alarm rate alpha is over x_T and the candidate's own noise"),
    )


# ---- probability-flow ODE samplers -------------------------------------------------------------------------
def _path_error(y: np.ndarray, y_ref: np.ndarray, scale: np.ndarray) -> tuple[float, int, int]:
    """max |y - y_ref| / scale over samples and eigen-coordinates, and where."""
    r = np.abs(y - y_ref) / scale
    r = np.where(np.isfinite(r), r, np.inf)
    i, j = np.unravel_index(int(np.argmax(r)), r.shape)
    return float(r[i, j]), int(i), int(j)


def check_ode_sampler(
    sampler_fn: Callable[[Any, Any, int], Any],
    ref: Any,
    n_steps: int | None = None,
    eps: float = 1e-3,
    method: str | None = None,
    *,
    alpha: float = 1e-6,
    seed: int = 0,
    backend: Any = None,
    dtype: Any = None,
    rtol: float | None = None,
    n: int = 256,
) -> CheckReport:
    """Check a deterministic ``sampler_fn(score_fn, x_T, n_steps) -> x`` path by path.

    Error metric: max over the n paths and eigen-coordinates j of |y - y_ref| / sqrt(v_eps,j), i.e. in units of
    p_eps's std in that direction.  Reference and tolerance:

    * ``method`` in ``ODE_METHODS`` (``"ddim"``: DDIM with eta = 0 on the uniform-t grid, i.e.
      DPM-Solver-1): the same scheme run by the check in float64 with the exact score on the
      same rounded x_T; tolerance ``rtol`` (default: rounding budget 16 n_steps u, u = unit roundoff of the
      check dtype, times (1 + max |y_ref| / sqrt(v_eps)); ~4e-15 n_steps in float64).  A grid shift or a
      coefficient slip changes the result by O(h), orders of magnitude above this.
    * ``method=None``: the exact flow map Phi_{T->eps}(x_T) (:func:`refsde.testing._laws.flow_paths`);
      tolerance 2 E_euler + the rounding budget, where E_euler is the same error of the reference Euler scheme
      at n_steps (order 1, error constant measured on this problem); Heun and RK4 are far inside it.

    Deterministic: ``alpha`` is accepted for a uniform signature (false-alarm rate 0).  Defaults: n_steps = 100
    with a method, 1000 without (Euler's error, hence the tolerance, is 0.15 / 0.18 / 0.74 std of p_eps at 100
    steps on VP / sub-VP / VE here, about ten times less at 1000).
    """
    name = "check_ode_sampler"
    check_probabilities(alpha=alpha)
    n_steps, eps = check_common(ref, _default_steps(n_steps, method), eps, method, ODE_METHODS)
    ctx = Ctx(name, ref, backend, dtype, _laws.default_case())
    x_T, xh = ctx.prior(int(n), seed)
    y_T = xh @ ctx.case.Q
    y = ctx.output(sampler_fn(ctx.score_fn, x_T, n_steps), int(n), "sampler output")
    sc = _laws.schedule(ref, np.array([eps]))
    scale = np.sqrt(_laws.variances(ctx.case, sc["alpha"], sc["sigma2"])[0])
    u = float(np.finfo(ctx.np_dtype).eps) / 2.0
    stats: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    if method is None:
        y_ref = _laws.flow_paths(ref, ctx.case, eps, y_T)
        e_euler = _path_error(_laws.ode_paths(ref, ctx.case, "euler", n_steps, eps, y_T), y_ref, scale)[0]
        target = f"exact flow map Phi_(T->eps), eps = {eps} (tolerance 2 x Euler's error at {n_steps} steps)"
        stats["reference Euler error"] = e_euler
    else:
        y_ref = _laws.ode_paths(ref, ctx.case, method, n_steps, eps, y_T)
        e_euler = 0.0
        target = f"{method} at n_steps = {n_steps}, eps = {eps}, computed by the check in float64"
    rounding = 16.0 * n_steps * u * (1.0 + float(np.max(np.abs(y_ref) / scale)))
    tol = float(rtol) if rtol is not None else ALLOWANCE_FACTOR * e_euler + rounding
    err, i, j = _path_error(y, y_ref, scale)
    prop = "flow map x(eps)" if method is None else f"{method} path x(eps)"
    key = f"{prop}: max |error| / std(p_eps)"
    stats[key], thresholds[key] = err, tol
    if not err <= tol:
        raise ConformanceError(
            name, prop, input=f"path {i}: x_T = {np.array2string(xh[i], precision=6)}, eigen-direction {j}; {target}",
            expected=repr(float(y_ref[i, j])), got=repr(float(y[i, j])), statistic=err, threshold=tol,
            statistic_name="|error| / std(p_eps)", reference=ctx.reference,
        )
    return CheckReport(
        check=name, reference=ctx.reference, properties=(prop,), n=int(n), statistics=stats, thresholds=thresholds,
        passed=True, alpha=0.0, power=1.0, detectable={"path error / std(p_eps) (any above is detected)": tol},
        backend=ctx.backend.name, dtype=dtype_name(ctx.backend, ctx.dtype), notes=(f"target: {target}",),
    )


from .check_corrector import check_corrector  # noqa: E402  (re-export; check_corrector imports no name from here)

__all__ = ["ODE_METHODS", "SDE_METHODS", "check_corrector", "check_ode_sampler", "check_sde_sampler", "input_seed"]
