"""Conformance checks for samplers, on the candidate's own conventions: its grid, chain levels, step sizes,
final step and event shape.

The check chooses the data (Gaussian, :mod:`refsde.testing._cases`; default event shape (3,), eigenvalues
0.02, 0.5, 2) and gives the candidate its exact score ``score_fn(x, t)`` (t a float, 0-d or (n,) array; also
``score_fn.eps``, ``.x0`` and ``.denoiser(x~, sigma~)`` for eps-, data- and sigma-space code).  ``x_T`` is drawn
from the prior pi of ``ref`` (N(0, prior_std^2 I)), not from p_T, and the candidate is called as
``sampler_fn(score_fn, x_T, n_steps)``; it returns x of x_T's shape (any array library, or refsde's (x, info)).

**The candidate's conventions** (every argument is in the reference's time):

* ``grid``: the n_steps + 1 times t_0 > ... > t_n the candidate steps through (an array, or a callable
  n_steps -> times for samplers that build their grid from n_steps; default linspace(T, eps, n_steps + 1)).
  t_0 may lie below T (the candidate starts there from x_T ~ pi).  A grid ending at t_n = 0 means a last step
  to sigma = 0, accepted where the scheme defines it (it is then Tweedie's x0_hat at t_{n-1}).
* ``levels`` (chain schemes): ``"refsde"`` (N - 1 - k), ``"score_sde"`` (floor(t_k (N - 1) / T)) or integers.
* ``step_sizes``: the candidate's own h_k where it differs from t_k - t_{k+1} (score_sde's Euler-Maruyama
  evaluates at linspace(T, eps, N) but steps by T / N): a float, a sequence or a callable n_steps -> sizes.
* ``final``: ``"none"`` (output at t_n), ``"mean"`` (the last step without noise: score_sde's
  ``denoise=True``), ``"denoise"`` (Tweedie's E[x_0 | x_{t_n}] after the last step: refsde's ``denoise=True``).
* ``options``: the scheme's own parameters (``eta``, ``variance``, ``churn``, ``order``, ``variant``, ...;
  :mod:`refsde.testing._schemes`).

**Targets.**  ``method="<scheme>"``: the exact law (SDE) or path (ODE) of that scheme on the candidate's
conventions, computed by the check from the scheme's formulas (:mod:`refsde.testing._schemes`, independent of
:mod:`refsde.sampling`).  ``method=None``: an order test against the continuous-time target (the exact
reverse-SDE law, the exact flow map) on a ladder n, 2n, 4n(, 8n) of step counts (:func:`check_ode_sampler`,
:func:`check_sde_sampler`).  Comparisons are in eigen-coordinates, where all schemes decouple.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .._checks import check_eps, check_integer
from . import _schemes as S
from ._cases import DataCase, gaussian_case
from ._setup import SamplerSetup, call_candidate, check_tolerance
from ._stats import detectable_std_error, moment_tests, norm_isf, sample_size, z_two_sided
from ._causes import SCORE_SLIPS, STEP_SLIPS, SamplerSlip, name_matches, sampler_slips
from .errors import ConformanceError, hide_from_pytest
from .report import CheckReport, add_panel, collects_evidence

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames

SDE_METHODS = tuple(S.SDE_SCHEMES)
ODE_METHODS = tuple(S.ODE_SCHEMES) + tuple(S.ALIASES)
FINALS = ("none", "mean", "denoise")
#: Deterministic checks: tolerance = BUDGET_FACTOR x (the candidate's rounding budget + the float64 reference's)
BUDGET_FACTOR = 4.0
#: Order tests: the observed order may fall this far below the claimed one (pre-asymptotic slack)
ORDER_MARGIN = 0.5
#: Order tests: the finest rung's error must stay below this many times that of the first-order reference on the
#: same grid (ODE: Euler on the PF ODE, by the claimed order: a first-order method within 10 x Euler's error, a
#: higher-order one below Euler's own; SDE: 3 x the exact Euler-Maruyama law's error)
BOUND_FACTOR = {"ode": 10.0, "ode_high": 1.0, "sde": 3.0}
ODE_ORDERS = (0, 1, 2, 3, 4)
LADDER = {"ode": 4, "sde": 3}


# ---- step 1: the candidate's conventions ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Conventions:
    """The conventions of one candidate run: its n_steps and what the check's target uses."""

    n_steps: int  # what the candidate is called with
    times: list[float]  # the grid of the target (a trailing t = 0 turned into final = "denoise")
    final: str
    levels: list[int] | None
    step_sizes: list[float] | None
    to_zero: bool  # the candidate's last step goes to sigma = 0

    def describe(self) -> str:
        g = self.times
        grid = f"{len(g)} times {g[0]:.6g} .. {g[-1]:.6g}" + (" then a step to 0" if self.to_zero else "")
        extra = ""
        if self.levels is not None:
            extra += f", levels {self.levels[:3]}..{self.levels[-1]}"
        if self.step_sizes is not None:
            extra += f", step sizes {self.step_sizes[0]:.4g}.."
        return f"n_steps = {self.n_steps}, grid {grid}, final {self.final!r}{extra}"


def _float_list(values: Any, name: str) -> list[float]:
    if hasattr(values, "shape") and hasattr(values, "dtype"):
        from .._arrays import host_floats

        if len(values.shape) != 1:
            raise ValueError(f"{name} must be 1-d, got shape {tuple(values.shape)}")
        return host_floats(values)
    try:
        return [float(v) for v in values]
    except TypeError:
        raise ValueError(f"{name} must be a sequence or 1-d array of floats, got {values!r}") from None


def conventions(ref: Any, n_steps: int | None, eps: float, grid: Any, levels: Any, step_sizes: Any, final: str,
                scheme: S.Scheme | None) -> Conventions:
    """Resolve the candidate's conventions at ``n_steps`` (module docstring); ValueError for bad ones.

    With ``step_sizes`` the grid may hold only the n_steps times at which the candidate evaluates (score_sde's
    linspace(T, eps, N)); its end time is then t_{n-1} - h_{n-1} (at least 0).
    """
    if final not in FINALS:
        raise ValueError(f"final must be one of {FINALS}, got {final!r}")
    T = float(ref.T)
    if grid is None:
        if n_steps is None:
            raise ValueError("give n_steps, or grid (its n_steps + 1 times)")
        n_steps = check_integer(n_steps, "n_steps")
        times = [float(t) for t in np.linspace(T, check_eps(ref, eps), n_steps + 1)]
    else:
        times = _float_list(grid(int(n_steps)) if callable(grid) else grid, "grid")
        if n_steps is None:
            n_steps = len(times) - (0 if step_sizes is not None else 1)
    n_steps = int(n_steps)
    if n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps}")
    sizes = None
    if step_sizes is not None:
        raw = step_sizes(n_steps) if callable(step_sizes) else step_sizes
        sizes = [float(raw)] * n_steps if isinstance(raw, (int, float)) else _float_list(raw, "step_sizes")
        if len(sizes) != n_steps or any(not (math.isfinite(h) and h > 0) for h in sizes):
            raise ValueError(f"step_sizes must hold n_steps = {n_steps} finite sizes > 0")
        if len(times) == n_steps:
            times = times + [max(times[-1] - sizes[-1], 0.0)]  # the end of the candidate's last step
    if len(times) != n_steps + 1:
        raise ValueError(f"grid must hold n_steps + 1 = {n_steps + 1} times, got {len(times)}")
    for k, t in enumerate(times):
        if not math.isfinite(t):
            raise ValueError(f"grid[{k}] = {t} is not finite")
        if k and not t < times[k - 1]:
            raise ValueError(f"grid must be strictly decreasing: grid[{k}] = {t} >= grid[{k - 1}] = {times[k - 1]}")
    if times[0] > T * (1.0 + 1e-12) or times[-1] < 0.0:
        raise ValueError(f"grid must lie in [0, T] = [0, {T}], got {times[0]} .. {times[-1]}")
    to_zero = times[-1] == 0.0 and sizes is None
    if to_zero:
        if scheme is not None and not scheme.ends_at_zero:
            raise ValueError("this scheme has no step to t = 0 (its coefficients are singular there); end the grid "
                             "at the last time the candidate evaluates the score")
        if final == "mean":
            raise ValueError("a last step to t = 0 is already noise-free; use final='none' or 'denoise'")
        if len(times) < 3:
            raise ValueError("a grid ending at t = 0 needs at least one step before the step to 0")
        times, final = times[:-1], "denoise"
    n = len(times) - 1
    lv = None
    if scheme is not None and scheme.uses_levels:
        if n < 2:
            raise ValueError("the chain schemes need n_steps >= 2 (the chain's times are i T / (N - 1))")
        if levels is None or (isinstance(levels, str) and levels == "refsde"):
            lv = [n - 1 - k for k in range(n)]
        elif isinstance(levels, str) and levels == "score_sde":
            lv = [min(n - 1, int(math.floor(times[k] * (n - 1) / T))) for k in range(n)]
        elif isinstance(levels, str):
            raise ValueError(f"unknown levels {levels!r}; choose 'refsde', 'score_sde' or a sequence of integers")
        else:
            lv = [int(v) for v in _float_list(levels, "levels")]
            if len(lv) != n or any(not 0 <= i < n for i in lv):
                raise ValueError(f"levels must hold {n} integers in [0, {n})")
    elif levels is not None:
        raise ValueError("levels apply to the chain schemes only (reverse_diffusion, ancestral, pc)")
    return Conventions(n_steps, times, final, lv, sizes, to_zero)


def _scheme_applies(ref: Any, name: str, conv: Conventions, options: dict[str, Any]) -> None:
    """ValueError where the scheme is not defined for ``ref`` on these conventions."""
    from ..sde import SubVPSDE, VESDE, VPSDE

    n = len(conv.times) - 1
    chain_betas = name in ("reverse_diffusion", "ancestral") and isinstance(ref, VPSDE) or (
        name == "pc" and isinstance(ref, (VPSDE, SubVPSDE)))
    if name == "pc" and options.get("predictor", "reverse_diffusion") in ("reverse_diffusion", "ancestral") and \
            isinstance(ref, VPSDE):
        chain_betas = True
    if chain_betas and ref.beta_max * ref.T / n >= 1.0:
        raise ValueError(f"method {name!r} is not defined for {ref!r} at n_steps = {n}: the DDPM betas need "
                         f"n_steps > beta_max T = {ref.beta_max * ref.T}")
    uses_ancestral = name == "ancestral" or (name == "pc" and options.get("predictor") == "ancestral")
    if uses_ancestral and not isinstance(ref, (VPSDE, VESDE)):
        raise ValueError(f"method {name!r} is not defined for {ref!r}: ancestral sampling needs a VPSDE or VESDE")
    if name == "pc" and options.get("corrector", "annealed_langevin") != "annealed_langevin":
        raise ValueError("the exact PC law needs the annealed Langevin corrector (e = 2 alpha_i (snr sigma_t)^2): "
                         "the snr rule with score norms is not affine, so its law is not Gaussian")


def _case(shape: Any, data: DataCase | None) -> DataCase:
    if data is not None:
        if not isinstance(data, DataCase):
            raise ValueError("data must be a DataCase (refsde.testing.gaussian_case(...))")
        return data
    return gaussian_case(shape)


def _run(setup: SamplerSetup, conv: Conventions, options: dict[str, Any]) -> S.Run:
    return S.Run(setup.ref, setup.case.mt, setup.case.lam, list(conv.times), options, conv.levels, conv.step_sizes,
                 conv.to_zero)


def _call(setup: SamplerSetup, sampler_fn: Callable[..., Any], x_T: Any, n_steps: int, n: int) -> np.ndarray:
    """The candidate's output in eigen-coordinates; an exception inside the candidate is a ConformanceError saying so."""
    try:
        out = call_candidate(sampler_fn, (setup.score_fn, x_T, n_steps), ("score_fn", "x_T", "n_steps"))
    except ConformanceError:
        raise
    except Exception as exc:
        raise ConformanceError(setup.check, "sampler call", input=f"n_steps = {n_steps}",
                               expected="an output x like x_T", got=f"{type(exc).__name__}: {exc}",
                               reference=setup.reference, note="the candidate raised under this reference") from exc
    return setup.eigen_output(out, n, "sampler output")


# ---- reverse-SDE samplers ------------------------------------------------------------------------------------------
def _pooled_moment_tests(setup: SamplerSetup, what: str, y: np.ndarray, M: np.ndarray, V: np.ndarray,
                         mean_allow: np.ndarray, var_allow: np.ndarray, z_c: float, stats: dict[str, float],
                         thresholds: dict[str, float], input: str) -> None:
    """Variance and mean tests per group of identical eigen-coordinates (standardized, pooled)."""
    case = setup.case
    u = (y - M) / np.sqrt(V)
    for g in range(case.n_groups):
        idx = np.flatnonzero(case.groups == g)
        pooled = u[:, idx].reshape(-1, 1)
        j = int(idx[0])
        label = f"group {g} (eigenvalue {case.lam[j]:g}, {idx.size} coordinate{'s' if idx.size > 1 else ''})"
        local_s: dict[str, float] = {}
        local_t: dict[str, float] = {}
        moment_tests(setup.check, what, pooled, np.zeros(1), np.ones(1), np.array([mean_allow[j]]),
                     np.array([var_allow[j]]), z_c, local_s, local_t, reference=setup.reference,
                     input=f"{input}, {label}; expected variance {V[j]:.6g}, mean {M[j]:.6g} in eigen-coordinates")
        for key, value in local_s.items():
            if key not in stats or value > stats[key]:
                stats[key], thresholds[key] = value, local_t[key]


def _sde_sample_size(setup: SamplerSetup, z_c: float, rel_std_error: float, a_max: float, n: int | None) -> int:
    if n is None:
        smallest = min(int(np.sum(setup.case.groups == g)) for g in range(setup.case.n_groups))
        n = math.ceil(sample_size(z_c, setup.power, rel_std_error, a_max) / smallest)
    n = int(n)
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    return n


# ---- named causes: the check's target under each known slip (module _causes) -----------------------------------------
@dataclass(frozen=True)
class _Args:
    """The candidate's conventions as the user gave them (to rebuild them under a slip)."""

    n_steps: int
    eps: float
    grid: Any
    levels: Any
    step_sizes: Any
    final: str


def _variant(setup: SamplerSetup, args: _Args, conv: Conventions, scheme_name: str, opts: dict[str, Any],
             slip: SamplerSlip, stochastic: bool) -> tuple[S.Run, S.Scheme, Conventions]:
    """The run, scheme and conventions of the check's target under ``slip`` (ValueError where it does not apply)."""
    ref = setup.ref
    n_steps, grid, levels, step_sizes, final = conv.n_steps, args.grid, args.levels, args.step_sizes, conv.final
    if conv.to_zero and final == "denoise":
        final = args.final  # the grid's step to 0 is the candidate's own, not a convention the slip changes
    if slip.final is not None:
        final = slip.final
    if slip.levels == "other":
        levels = "score_sde" if levels is None or levels == "refsde" else "refsde"
    if slip.step_sizes == "T/N":
        step_sizes = float(ref.T) / conv.n_steps
    if slip.grid == "default":
        grid = None
    name = slip.scheme or scheme_name
    options = dict(slip.options if slip.options is not None else (opts if slip.scheme is None else {}))
    alt_name, alt_scheme, alt_opts = S.resolve(name, options, stochastic)
    alt = conventions(ref, n_steps if grid is None or callable(grid) else None, args.eps, grid,
                      levels if alt_scheme.uses_levels else None, step_sizes, final, alt_scheme)
    _scheme_applies(ref, alt_name, alt, alt_opts)
    nodes = setup.__dict__.setdefault("_slip_nodes", {})  # the reference's nodes, shared by every slip's run
    run = S.Run(ref, setup.case.mt, setup.case.lam, list(alt.times), alt_opts, alt.levels, alt.step_sizes,
                alt.to_zero, slip=slip.run_slip, _nodes=nodes)
    return run, alt_scheme, alt


def _init_factor(run: S.Run, slip: SamplerSlip) -> float:
    """The factor an initial-state slip puts on x_T: sig0 / sqrt(1 + sig0^2) ("down") or its inverse ("up")."""
    if slip.init_scale is None:
        return 1.0
    sig0 = run.grid_node(0).sig
    f = sig0 / math.sqrt(1.0 + sig0 * sig0)
    return f if slip.init_scale == "down" else 1.0 / f


def _law_cause(setup: SamplerSetup, y: np.ndarray, z_c: float, slips: list[SamplerSlip],
               build: Callable[[SamplerSlip], tuple[S.Run, S.Scheme, Conventions]], under: float) -> str:
    """The slips under whose exact law the candidate's output passes the same moment tests."""
    prior_var = float(setup.ref.prior_std) ** 2
    D = setup.case.D
    matches = []
    for slip in slips:
        try:
            run, scheme, conv = build(slip)
            with np.errstate(all="ignore"):
                M, V = S.scheme_law(run, scheme, prior_var * _init_factor(run, slip) ** 2, conv.final, noise=slip.noise)
        except (ValueError, ZeroDivisionError, IndexError, KeyError):
            continue
        if not (np.all(np.isfinite(M)) and np.all(np.isfinite(V)) and np.all(V > 0)):
            continue
        stats: dict[str, float] = {}
        thresholds: dict[str, float] = {}
        try:
            _pooled_moment_tests(setup, "output", y, M, V, np.zeros(D), np.zeros(D), z_c, stats, thresholds, "")
        except ConformanceError:
            continue
        matches.append((max(stats[k] / thresholds[k] for k in thresholds), slip.text))
    return name_matches(matches, [s.text for s in slips], under, "|z| / threshold")


def _path_cause(setup: SamplerSetup, y: np.ndarray, y_T: np.ndarray, tol: np.ndarray | None, slips: list[SamplerSlip],
                build: Callable[[SamplerSlip], tuple[S.Run, S.Scheme, Conventions]], under: float) -> str:
    """The slips whose paths the candidate's output follows within the same tolerance rule (``tol``: the user's
    rtol in std units; None: the rounding budget of the slipped scheme itself, whose states may be larger)."""
    matches = []
    for slip in slips:
        try:
            run, scheme, conv = build(slip)
            y0 = y_T * _init_factor(run, slip)
            with np.errstate(all="ignore"):
                y_alt = S.scheme_paths(run, scheme, y0, conv.final)
                if not np.all(np.isfinite(y_alt)):
                    continue
                ratio = (_path_error(y, y_alt, tol)[0] if tol is not None
                         else _budget_ratio(setup, run, scheme, y0, conv.final, y, y_alt))
        except (ValueError, ZeroDivisionError, IndexError, KeyError):
            continue
        if ratio <= 1.0:
            matches.append((ratio, slip.text))
    return name_matches(matches, [s.text for s in slips], under)


_STEP_TEXTS = {name: tuple((slip, text) for slip, text in slips if slip != "right_end") for name, slips in STEP_SLIPS.items()}


def _scheme_cause(setup: SamplerSetup, y: np.ndarray, y_T: np.ndarray, conv: Conventions, scale: np.ndarray,
                  under: str) -> str:
    """Order tests: the known ODE scheme (and its step slips) the candidate's paths follow on this grid, if any."""
    matches, tried = [], []
    for name in ("euler", "heun", "rk4", "ddim", "edm_heun", "dpm_solver_2", "dpm_solver_3", "dpm_solver_2m",
                 "dpm_solver_pp_2m", "dpm_solver_pp_3m"):
        variants: list[tuple[str, dict[str, Any], str]] = [("", {}, name)]
        variants += [(slip, {}, f"{name} with {text}") for slip, text in _STEP_TEXTS.get(S.ALIASES.get(name, (name,))[0], ())]
        if name in ("euler", "heun"):
            variants += [(slip, {}, f"{name} with {text}") for slip, text in SCORE_SLIPS]
        if name == "dpm_solver_pp_3m":
            variants.append(("", {"variant": "dpm_solver"}, "dpm_solver_pp_3m as published (second order)"))
        for run_slip, extra, text in variants:
            tried.append(text)
            try:
                scheme_name, scheme, opts = S.resolve(name, extra, stochastic=False)
                if conv.to_zero and not scheme.ends_at_zero:
                    continue
                run = S.Run(setup.ref, setup.case.mt, setup.case.lam, list(conv.times), opts, None, None,
                            conv.to_zero, slip=run_slip)
                with np.errstate(all="ignore"):
                    y_alt = S.scheme_paths(run, scheme, y_T, conv.final)
                ratio = _budget_ratio(setup, S.Run(setup.ref, setup.case.mt, setup.case.lam, list(conv.times), opts,
                                                   None, None, conv.to_zero), scheme, y_T, conv.final, y, y_alt)
            except (ValueError, ZeroDivisionError, IndexError, KeyError):
                continue
            if ratio <= 1.0:
                order = f" (a scheme of order {scheme.order})" if not run_slip else ""
                matches.append((ratio, f"your paths follow {text} on this grid{order}"))
    if not matches:
        return f"no known scheme matches the output on this grid ({under}; tried: {', '.join(tried)})"
    return name_matches(matches, tried, math.nan).rsplit("; nan under the reference", 1)[0]


def _sde_scheme_cause(setup: SamplerSetup, y: np.ndarray, conv: Conventions, z_c: float) -> str:
    """Order tests: the known stochastic scheme (and Euler-Maruyama's step slips) whose exact law on this rung's
    grid the candidate's output follows, if any."""
    prior_var = float(setup.ref.prior_std) ** 2
    D = setup.case.D
    variants = [("euler_maruyama", "", {}, "Euler-Maruyama")]
    variants += [("euler_maruyama", sl, {}, f"Euler-Maruyama with {text}")
                 for sl, text in STEP_SLIPS["euler_maruyama"] + SCORE_SLIPS]
    variants += [("euler_maruyama", "", {}, "Euler-Maruyama with the last step without noise")]
    variants += [(name, "", {}, name) for name in ("reverse_diffusion", "ancestral", "ddpm", "ddim", "euler_ancestral")]
    matches, tried = [], []
    for k, (name, run_slip, opts, text) in enumerate(variants):
        tried.append(text)
        try:
            _, scheme, o = S.resolve(name, opts, stochastic=True)
            final = "mean" if text.endswith("without noise") else conv.final
            lv = [len(conv.times) - 2 - i for i in range(len(conv.times) - 1)] if scheme.uses_levels else None
            run = S.Run(setup.ref, setup.case.mt, setup.case.lam, list(conv.times), o, lv, conv.step_sizes, conv.to_zero,
                        slip=run_slip)
            _scheme_applies(setup.ref, name, conv, o)
            with np.errstate(all="ignore"):
                M, V = S.scheme_law(run, scheme, prior_var, final)
        except (ValueError, ZeroDivisionError, IndexError, KeyError):
            continue
        if not (np.all(np.isfinite(M)) and np.all(np.isfinite(V)) and np.all(V > 0)):
            continue
        stats: dict[str, float] = {}
        thresholds: dict[str, float] = {}
        try:
            _pooled_moment_tests(setup, "output", y, M, V, np.zeros(D), np.zeros(D), z_c, stats, thresholds, "")
        except ConformanceError:
            continue
        matches.append((max(stats[q] / thresholds[q] for q in thresholds), f"your output follows the exact law of {text} on this grid"))
    if not matches:
        return "no known scheme's law matches the output on this grid (tried: " + ", ".join(tried) + ")"
    return name_matches(matches, tried, math.nan, "|z| / threshold").rsplit("; nan under the reference", 1)[0]


def _standardized_panel(title: str, setup: SamplerSetup, y: np.ndarray, M: np.ndarray, V: np.ndarray) -> None:
    """QQ panel: the candidate's output standardized by the exact law the check used, one series per group."""
    u = (y - M) / np.sqrt(V)
    case = setup.case
    series = [(f"eigenvalue {case.lam[int(np.flatnonzero(case.groups == g)[0])]:g}", u[:, case.groups == g])
              for g in range(case.n_groups)]
    add_panel("qq", title, series=series)


@collects_evidence
def check_sde_sampler(
    sampler_fn: Callable[[Any, Any, int], Any],
    ref: Any,
    n_steps: int | None = None,
    eps: float = 1e-3,
    method: str | None = None,
    *,
    grid: Any = None,
    levels: Any = None,
    step_sizes: Any = None,
    final: str = "none",
    options: dict[str, Any] | None = None,
    order: int = 1,
    shape: Any = (3,),
    data: DataCase | None = None,
    alpha: float = 1e-6,
    seed: int = 0,
    backend: Any = None,
    dtype: Any = None,
    n: int | None = None,
    rel_std_error: float | None = None,
    power: float = 0.99,
) -> CheckReport:
    """Check a stochastic ``sampler_fn(score_fn, x_T, n_steps) -> x`` against the exact law of its output.

    * ``method`` in ``SDE_METHODS`` (euler_maruyama, reverse_diffusion, ancestral, ddpm, ddim, euler_ancestral,
      edm_heun, pc): the exact Gaussian law of that scheme on the candidate's conventions (grid, levels, step
      sizes, final step; module docstring) from x_T ~ pi, propagated through its affine recursion; no allowance.
    * ``method=None``: the continuous target (the exact reverse SDE's law from pi at t_0 to t_n, then ``final``)
      on the ladder n_steps, 2 n_steps, 4 n_steps (``grid`` None or a callable); at each rung the moments must
      lie within BOUND_FACTOR x the error of the exact Euler-Maruyama law on that rung's grid (a first-order
      scheme, ``order=1``); the observed order of the variance error is reported, or reported as unresolved
      where the coarsest rung's error is below three standard errors.

    Tests (Bonferroni, false-alarm probability <= ``alpha`` over x_T and the candidate's noise): per group of
    identical eigen-coordinates a two-sided variance test against the band and a mean test
    (:func:`refsde.testing._stats.moment_tests`).  ``n`` (samples) defaults to the size that detects a relative
    std error ``rel_std_error`` beyond the band with probability ``power``: 3% with a method, 4% without.
    The sample size is designed at the finest rung (coarser rungs have wider bands).  Defaults: n_steps = 100
    (without a method the ladder then runs 100, 200, 400 steps).  Raises :class:`ConformanceError`; ValueError for a
    method not defined for ``ref`` on these conventions.
    """
    name = "check_sde_sampler"
    setup = SamplerSetup(name, ref, _case(shape, data), backend, dtype, alpha=alpha, power=power, seed=seed)
    if rel_std_error is not None:
        check_tolerance("rel_std_error", rel_std_error, allow_none=False)
    if order != 1:
        raise ValueError("check_sde_sampler's order test knows first-order schemes (order=1); check higher-order "
                         "stochastic schemes with method=")
    if n_steps is None and (grid is None or callable(grid)):
        n_steps = 100
    if method is None:
        if grid is not None and not callable(grid):
            raise ValueError("the order test (method=None) runs several step counts: give grid as a callable "
                             "n_steps -> times, or None")
        return _sde_order_test(setup, sampler_fn, int(n_steps), eps, grid, levels, step_sizes, final, n, rel_std_error)
    scheme_name, scheme, opts = S.resolve(method, options, stochastic=True)
    conv = conventions(ref, n_steps, eps, grid, levels, step_sizes, final, scheme)
    _scheme_applies(ref, scheme_name, conv, opts)
    # target: the exact law of the scheme on the candidate's conventions
    run = _run(setup, conv, opts)
    prior_var = float(ref.prior_std) ** 2
    M, V = S.scheme_law(run, scheme, prior_var, conv.final)
    D, G = setup.case.D, setup.case.n_groups
    z_c = z_two_sided(alpha / (2 * G))
    rel = 0.03 if rel_std_error is None else float(rel_std_error)
    n = _sde_sample_size(setup, z_c, rel, 0.0, n)
    # run and test
    x_T, _ = setup.prior(n, float(ref.prior_std))
    y = _call(setup, sampler_fn, x_T, conv.n_steps, n)
    stats: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    target = f"exact law of {scheme_name}{_opts(opts)} on {conv.describe()}"
    _standardized_panel(f"{n} outputs standardized by the exact law of {scheme_name}{_opts(opts)} on your grid "
                        f"({conv.n_steps} steps)", setup, y, M, V)
    try:
        _pooled_moment_tests(setup, "output", y, M, V, np.zeros(D), np.zeros(D), z_c, stats, thresholds,
                             f"{n} samples, {target}")
    except ConformanceError as err:
        args = _Args(conv.n_steps, eps, grid, levels, step_sizes, final)
        slips = sampler_slips(scheme_name, opts, conv, True, uses_levels=scheme.uses_levels, grid_given=grid is not None)
        under = float(err.statistic) / float(err.threshold) if err.statistic is not None and err.threshold else math.inf
        raise err.with_cause(_law_cause(
            setup, y, z_c, slips, lambda sl: _variant(setup, args, conv, scheme_name, opts, sl, True), under)) from None
    # report
    M5, V5 = S.scheme_law(_run(setup, conv, opts), scheme, prior_var, conv.final, noise_scale=1.05)
    stats["noise scale +5%: max relative std change"] = float(np.max(np.sqrt(V5 / V))) - 1.0
    smallest = min(int(np.sum(setup.case.groups == g)) for g in range(G))
    z = z_c + norm_isf(1.0 - power)
    detectable = {
        "relative std error of one eigen-direction": detectable_std_error(z_c, power, n * smallest, 0.0),
        "mean offset / std of one eigen-direction": float(z / math.sqrt(n * smallest)),
    }
    notes = (f"target: {target}", setup.score_fn.domain_note(), setup.case.describe(),
             "false-alarm rate alpha is over x_T and the candidate's own noise")
    return setup.report(("output variance", "output mean"), n, stats, thresholds, detectable=detectable, notes=notes)


def _opts(options: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={v!r}" for k, v in sorted(options.items())) + ")" if options else ""


def _sde_order_test(setup: SamplerSetup, sampler_fn: Callable[..., Any], n_steps: int, eps: float, grid: Any,
                    levels: Any, step_sizes: Any, final: str, n: int | None, rel_std_error: float | None) -> CheckReport:
    ref, case = setup.ref, setup.case
    if levels is not None:
        raise ValueError("levels apply to method= checks of chain schemes, not to the order test")
    em = S.SDE_SCHEMES["euler_maruyama"]
    prior_var = float(ref.prior_std) ** 2
    rungs = [n_steps * 2**i for i in range(LADDER["sde"])]
    plans = []
    for m in rungs:
        conv = conventions(ref, m, eps, grid, None, step_sizes, final, None)
        M, V = S.reverse_sde_law(ref, case, conv.times[0], conv.times[-1], prior_var, conv.final)
        M_em, V_em = S.scheme_law(_run(setup, conv, {}), em, prior_var, conv.final)
        mean_allow = BOUND_FACTOR["sde"] * np.abs(M_em - M) / np.sqrt(V)
        var_allow = np.minimum(BOUND_FACTOR["sde"] * np.abs(V_em / V - 1.0), 0.5)
        plans.append((conv, M, V, mean_allow, var_allow))
    G = case.n_groups
    z_c = z_two_sided(setup.alpha / (2 * G * len(rungs)))
    rel = 0.04 if rel_std_error is None else float(rel_std_error)
    a_max = float(np.max(plans[-1][4]))  # the power is designed at the finest rung (coarser bands are wider)
    n = _sde_sample_size(setup, z_c, rel, a_max, n)
    x_T, _ = setup.prior(n, float(ref.prior_std))
    stats: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    errors = []
    for r, (conv, M, V, mean_allow, var_allow) in enumerate(plans):
        y = _call(setup, sampler_fn, x_T, conv.n_steps, n)
        if r == len(plans) - 1:
            _standardized_panel(f"{n} outputs at n_steps = {conv.n_steps} against the exact reverse-SDE law", setup, y, M, V)
        target = (f"law of the exact reverse SDE from pi at t = {conv.times[0]:.6g} to {conv.times[-1]:.6g} "
                  f"(final {conv.final!r}), allowance {BOUND_FACTOR['sde']:g} x the exact Euler-Maruyama law's error "
                  f"on {conv.describe()}")
        try:
            _pooled_moment_tests(setup, "output", y, M, V, mean_allow, var_allow, z_c, stats, thresholds,
                                 f"{n} samples, {target}")
        except ConformanceError as err:
            raise err.with_cause(_sde_scheme_cause(setup, y, conv, z_c)) from None
        errors.append(np.array([float(np.mean(((y[:, case.groups == g] - M[case.groups == g]) ** 2
                                               / V[case.groups == g]))) - 1.0 for g in range(G)]))
    add_panel("ladder", "variance error of the output (largest group) against the exact reverse-SDE law",
              steps=rungs, errors=[float(np.max(np.abs(e))) for e in errors], expected_order=1,
              observed_order=math.nan, ylabel="|variance / exact - 1|")
    notes = [f"target: continuous-time reverse-SDE law on the ladder n_steps = {rungs}", setup.score_fn.domain_note()]
    smallest = min(int(np.sum(case.groups == g)) for g in range(G))
    se = [math.sqrt(2.0 / (n * smallest))] * len(rungs)
    e0, e1 = np.abs(errors[0]), np.abs(errors[-1])
    resolved = e0 > 3.0 * se[0]
    if np.any(resolved):
        g = int(np.argmax(np.where(resolved, e0, -1.0)))
        observed = math.log2(e0[g] / max(e1[g], se[-1])) / (len(rungs) - 1)
        stats["observed order of the variance error (largest resolved group)"] = observed
        notes.append(f"observed order {observed:.2f} between n_steps = {rungs[0]} and {rungs[-1]} (group {g}; a lower "
                     "bound where the finest rung's error is below its standard error)")
    else:
        notes.append(f"order unresolved: the variance error at n_steps = {rungs[0]} is below three standard errors "
                     f"({3 * se[0]:.2g}) in every group; the moments were tested against the bands only")
    detectable = {"relative std error of one eigen-direction": detectable_std_error(z_c, setup.power, n * smallest, a_max)}
    return setup.report(("output variance", "output mean"), n, stats, thresholds, detectable=detectable,
                        notes=tuple(notes))


# ---- probability-flow ODE samplers ---------------------------------------------------------------------------------
def _path_error(y: np.ndarray, y_ref: np.ndarray, scale: np.ndarray) -> tuple[float, int, int]:
    """max |y - y_ref| / scale over samples and eigen-coordinates, and where (inf where y is not finite)."""
    r = np.abs(y - y_ref) / scale
    r = np.where(np.isfinite(r), r, np.inf)
    i, j = np.unravel_index(int(np.argmax(r)), r.shape)
    return float(r[i, j]), int(i), int(j)


def _budget_ratio(setup: SamplerSetup, run: S.Run, scheme: S.Scheme, y_T: np.ndarray, final: str, y: np.ndarray,
                  y_alt: np.ndarray, screen: int = 8) -> float:
    """max |y - y_alt| / budget (inf where not finite). The budget (Bound arithmetic over every step: the costly
    part of a cause search) is first computed for the ``screen`` paths farthest from y_alt only: paths are
    independent, so a ratio above 1 there is the full ratio's verdict (a lower bound of it, above 1), and the
    full budget is computed only for a slip the output may follow."""
    with np.errstate(all="ignore"):
        err = np.max(np.abs(y - y_alt), axis=1)
    if y.shape[0] > screen:
        rows = np.argsort(-np.where(np.isfinite(err), err, np.inf), kind="stable")[:screen]
        with np.errstate(all="ignore"):
            sub = _budget(setup, run, scheme, y_T[rows], final)
        if not np.all(np.isfinite(sub)):
            return math.inf
        ratio = _path_error(y[rows], y_alt[rows], np.maximum(sub, 1e-300))[0]
        if ratio > 1.0:
            return ratio
    with np.errstate(all="ignore"):
        full = _budget(setup, run, scheme, y_T, final)
    if not np.all(np.isfinite(full)):
        return math.inf
    return _path_error(y, y_alt, np.maximum(full, 1e-300))[0]


def _budget(setup: SamplerSetup, run: S.Run, scheme: S.Scheme, y_T: np.ndarray, final: str) -> np.ndarray:
    """BUDGET_FACTOR x (the candidate's rounding budget in its dtype + the float64 reference's own)."""
    cand = S.rounding_budget(run, scheme, y_T, setup.u, final)
    own = cand if setup.u == 2.0**-53 else S.rounding_budget(run, scheme, y_T, 2.0**-53, final)
    return BUDGET_FACTOR * (cand + own)


@collects_evidence
def check_ode_sampler(
    sampler_fn: Callable[[Any, Any, int], Any],
    ref: Any,
    n_steps: int | None = None,
    eps: float = 1e-3,
    method: str | None = None,
    *,
    grid: Any = None,
    final: str = "none",
    options: dict[str, Any] | None = None,
    order: int | None = None,
    shape: Any = (3,),
    data: DataCase | None = None,
    alpha: float = 1e-6,
    seed: int = 0,
    backend: Any = None,
    dtype: Any = None,
    rtol: float | None = None,
    n: int = 256,
) -> CheckReport:
    """Check a deterministic ``sampler_fn(score_fn, x_T, n_steps) -> x`` path by path.

    * ``method`` in ``ODE_METHODS`` (euler, heun, rk4 in t on the PF ODE; ddim / edm_euler, edm_heun in sigma~;
      dpm_solver_2, dpm_solver_3 singlestep; dpm_solver_2m (noise prediction), dpm_solver_pp_2m,
      dpm_solver_pp_3m multistep): that scheme run by the check in float64 on the candidate's grid and final
      step, from the same rounded x_T.  Tolerance (``rtol`` overrides it, in std units of the output law):
      BUDGET_FACTOR x a rounding budget derived from the scheme's own error propagation on that grid
      (:func:`refsde.testing._schemes.rounding_budget`: every operation's rounding in the candidate's dtype,
      propagated by the scheme's exact multipliers), so a single large step and a thousand small ones are
      both judged at their own rounding level.
    * ``method=None``: an order test against the exact flow map Phi_{t_0 -> t_n} (then ``final``): the
      candidate on the ladder n_steps x (1, 2, 4, 8) (``grid`` None or a callable); the observed order
      log2(e_i / e_{i+1}) of its largest path error must reach ``order`` - ORDER_MARGIN (default order 1) on
      the last pair of rungs above rounding, and the finest rung's error must stay below 10 x Euler's on the same
      grid (order 1) or below Euler's (order >= 2).  ``order=0`` claims no convergence in n_steps (an adaptive
      solver that chooses its own steps): every rung must then meet the first-order bound.

    Deterministic: ``alpha`` is accepted for a uniform signature (false-alarm rate 0).  Defaults: n_steps = 20
    with a method, 10 without (the ladder then runs 10, 20, 40, 80 steps).
    """
    name = "check_ode_sampler"
    setup = SamplerSetup(name, ref, _case(shape, data), backend, dtype, alpha=alpha, seed=seed)
    rtol = check_tolerance("rtol", rtol)
    if isinstance(n, bool) or int(n) < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    n = int(n)
    if n_steps is None and (grid is None or callable(grid)):
        n_steps = 20 if method is not None else 10
    if method is None:
        if grid is not None and not callable(grid):
            raise ValueError("the order test (method=None) runs several step counts: give grid as a callable "
                             "n_steps -> times, or None")
        p = 1 if order is None else int(order)
        if p not in ODE_ORDERS:
            raise ValueError(f"order must be one of {ODE_ORDERS}, got {order!r}")
        return _ode_order_test(setup, sampler_fn, int(n_steps), eps, grid, final, p, n)
    scheme_name, scheme, opts = S.resolve(method, options, stochastic=False)
    conv = conventions(ref, n_steps, eps, grid, None, None, final, scheme)
    x_T, y_T = setup.prior(n, float(ref.prior_std))
    run = _run(setup, conv, opts)
    y_ref = S.scheme_paths(run, scheme, y_T, conv.final)
    scale = S.output_scale(ref, setup.case, conv.times[-1], conv.final)
    budget = _budget(setup, run, scheme, y_T, conv.final)
    y = _call(setup, sampler_fn, x_T, conv.n_steps, n)
    err_std, _, _ = _path_error(y, y_ref, scale)
    if rtol is not None:
        ratio, i, j = _path_error(y, y_ref, scale * rtol)
        tol_text = f"rtol = {rtol} std of the output law"
    else:
        ratio, i, j = _path_error(y, y_ref, budget)
        tol_text = f"{BUDGET_FACTOR:g} x the rounding budget of {scheme_name} in {setup.dtype_label} on this grid"
    label = f"{scheme_name}{_opts(opts)} path x"
    key = f"{label}: max |error| / tolerance"
    stats = {key: ratio, f"{label}: max |error| / std of the output law": err_std,
             "rounding budget: max / std of the output law": float(np.max(budget / scale))}
    target = f"{scheme_name}{_opts(opts)} on {conv.describe()}, computed by the check in float64"
    tol = scale * rtol if rtol is not None else budget
    add_panel("hist", f"path error / tolerance against {scheme_name}{_opts(opts)} ({n} paths)",
              values=np.log10(np.maximum(np.abs(y - y_ref) / tol, 1e-300)).ravel(),
              xlabel="log10 |error| / tolerance (a pass is < 0)")
    if not ratio <= 1.0:
        args = _Args(conv.n_steps, eps, grid, None, None, final)
        slips = sampler_slips(scheme_name, opts, conv, False, uses_levels=False, grid_given=grid is not None)
        cause = _path_cause(setup, y, y_T, scale * rtol if rtol is not None else None, slips,
                            lambda sl: _variant(setup, args, conv, scheme_name, opts, sl, False), ratio)
        raise ConformanceError(
            name, label, input=f"path {i}: x_T (eigen-coordinates) = {np.array2string(y_T[i], precision=6)}, "
                               f"eigen-direction {j}; {target}",
            expected=repr(float(y_ref[i, j])), got=repr(float(y[i, j])), statistic=ratio, threshold=1.0,
            statistic_name=f"|error| / tolerance ({tol_text}; |error| = {abs(y[i, j] - y_ref[i, j]) / scale[j]:.3g} std)",
            reference=setup.reference, cause=cause,
        )
    notes = (f"target: {target}", f"tolerance: {tol_text}", setup.score_fn.domain_note())
    return setup.report((label,), n, stats, {key: 1.0}, detectable={"path error / tolerance (any above 1 is detected)": 1.0},
                        notes=notes, deterministic=True)


def _ode_order_test(setup: SamplerSetup, sampler_fn: Callable[..., Any], n_steps: int, eps: float, grid: Any,
                    final: str, p: int, n: int) -> CheckReport:
    ref, case = setup.ref, setup.case
    rungs = [n_steps * 2**i for i in range(LADDER["ode"])]
    x_T, y_T = setup.prior(n, float(ref.prior_std))
    ref_name = "euler"
    _, ref_scheme, ref_opts = S.resolve(ref_name, {}, stochastic=False)
    factor = BOUND_FACTOR["ode"] if p <= 1 else BOUND_FACTOR["ode_high"]
    errors, floors, ref_errors, convs = [], [], [], []
    for m in rungs:
        conv = conventions(ref, m, eps, grid, None, None, final, None)
        target = S.flow_paths(ref, case, conv.times[0], conv.times[-1], y_T, conv.final)
        scale = S.output_scale(ref, case, conv.times[-1], conv.final)
        y = _call(setup, sampler_fn, x_T, conv.n_steps, n)
        errors.append(_path_error(y, target, scale)[0])
        last = (y, conv, scale)
        run = _run(setup, conv, ref_opts)
        ref_errors.append(_path_error(S.scheme_paths(run, ref_scheme, y_T, conv.final), target, scale)[0])
        floors.append(float(np.max(_budget(setup, run, ref_scheme, y_T, conv.final) / scale)))
        convs.append(conv)
    stats: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    for m, e in zip(rungs, errors):
        stats[f"flow map error at n_steps = {m} (std of the output law)"] = e
    observed = None
    for i in range(len(rungs) - 2, -1, -1):
        if errors[i + 1] > 100.0 * floors[i + 1] and errors[i] > 0:
            observed = math.log2(errors[i] / errors[i + 1])
            break
    notes = [f"target: the exact flow map on the ladder n_steps = {rungs} ({convs[-1].describe()} at the finest rung)",
             f"first-order reference: {ref_name} on the same grids (errors {', '.join(f'{e:.3g}' for e in ref_errors)}); "
             f"bound {factor:g} x its error",
             setup.score_fn.domain_note()]
    add_panel("ladder", "largest path error against the exact flow map", steps=rungs, errors=errors,
              expected_order=p if p > 0 else None, observed_order=math.nan if observed is None else observed,
              ylabel="max |x - Phi(x_T)| / std")
    if observed is None:
        notes.append("every rung is at rounding level: the sampler is exact to rounding on this problem (order not measured)")
    elif p > 0:
        stats["observed order (last pair of rungs above rounding)"] = observed
        key = f"order shortfall: claimed order {p} - observed"
        stats[key], thresholds[key] = p - observed, ORDER_MARGIN  # statistic <= threshold, as every check reports
        if not p - observed <= ORDER_MARGIN:
            raise ConformanceError(
                setup.check, "convergence order", input=f"ladder n_steps = {rungs}; {convs[-1].describe()} at the finest",
                expected=f"order >= {p} - {ORDER_MARGIN} (errors decreasing like n^-{p})",
                got=f"observed order {observed:.3g}; errors {', '.join(f'{e:.3g}' for e in errors)} std",
                statistic=p - observed, threshold=ORDER_MARGIN, statistic_name="claimed order - observed order",
                reference=setup.reference, cause=_scheme_cause(setup, last[0], y_T, last[1], last[2],
                                                               f"observed order {observed:.3g}"),
            )
    checked = range(len(rungs)) if p == 0 else [len(rungs) - 1]
    for i in checked:
        bound = max(factor * ref_errors[i], 100.0 * floors[i])
        key = f"flow map error at n_steps = {rungs[i]} (std of the output law)"
        thresholds[key] = bound
        if not errors[i] <= bound:
            raise ConformanceError(
                setup.check, "flow map x (finest rung)" if p else "flow map x", input=f"n_steps = {rungs[i]}; {convs[i].describe()}",
                expected=f"error <= {factor:g} x {ref_name}'s ({ref_errors[i]:.3g} std)",
                got=f"{errors[i]:.3g} std", statistic=errors[i], threshold=bound, statistic_name="|error| / std",
                reference=setup.reference,
                cause=_scheme_cause(setup, last[0], y_T, last[1], last[2], f"error {errors[-1]:.3g} std at the finest")
                if i == len(rungs) - 1 else "",
            )
    stats["reference error at the finest rung"] = ref_errors[-1]
    return setup.report(("convergence order", "flow map x (finest rung)"), n, stats, thresholds,
                        detectable={"flow-map error / std at the finest rung (any above the bound)": bound},
                        notes=tuple(notes), deterministic=True)


from .check_corrector import check_corrector  # noqa: E402  (re-export; check_corrector imports no name from here)

__all__ = ["FINALS", "ODE_METHODS", "SDE_METHODS", "check_corrector", "check_ode_sampler", "check_sde_sampler",
           "conventions"]
