"""Named causes: the known slips of each check family as a library table, and which one a failure matches.

When a check fails, it evaluates the same property under each known slip of its family (the slip's exact
effect, computed from the reference's closed forms, on the very inputs the check used) and names the slip
under which the candidate's output passes the check's own tolerance rule: "likely cause: the variance
returned as the std (error / tolerance 0.31 under it; 4.2e+08 under the reference)".  When several slips
match they are indistinguishable on these inputs and all are named; when none does, the error says so and
lists the slips it tried.  Deterministic families compare elementwise with the check's tolerance; the
sampler families (:func:`sampler_slips`) compare laws and paths through :mod:`refsde.testing._schemes`.

A slip is an alternative *expected value* (or law), never a change of the candidate: the diagnosis cannot
make a failing check pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .errors import hide_from_pytest

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames


@dataclass(frozen=True)
class Slip:
    """A known slip: ``text`` says what the code does wrong; ``expected(setup)`` the value (host float64, the
    shape of the property's expected array) a candidate with this slip returns on the check's inputs."""

    name: str
    text: str
    expected: Callable[[Any], np.ndarray]


def diagnose(slips: Sequence[Slip], setup: Any, got: np.ndarray, ratio_of: Callable[[np.ndarray], float],
             under_reference: float) -> str:
    """The text naming the slips under which ``got`` passes (``ratio_of(expected) <= 1``), or saying none does."""
    matches = []
    for slip in slips:
        try:
            with np.errstate(all="ignore"):  # a slip may divide by sigma_0 = 0: that slip simply cannot match there
                alt = slip.expected(setup)
        except Exception:  # a slip that does not apply to these inputs (e.g. a convention the SDE lacks)
            continue
        r = ratio_of(alt)
        if r <= 1.0:
            matches.append((r, slip))
    return name_matches([(r, slip.text) for r, slip in matches], [slip.text for slip in slips], under_reference)


def name_matches(matches: Sequence[tuple[float, str]], tried: Sequence[str], under_reference: float,
                 measure: str = "error / tolerance") -> str:
    """The cause line: the matching slips (ratio <= 1 under each, best first) or "no known slip ... (tried: ...)"."""
    if not matches:
        return f"no known slip of this property matches (tried: {', '.join(tried) if tried else 'none'})"
    ordered = sorted(matches, key=lambda m: m[0])
    head = "; ".join(f"{text} ({measure} {r:.3g} under it)" for r, text in ordered)
    what = "likely cause" if len(ordered) == 1 else "likely cause (indistinguishable on these inputs)"
    return f"{what}: {head}; {under_reference:.3g} under the reference"


# ---- the forward SDE: coefficients, marginal, prior ----------------------------------------------------------------
def _host(setup: Any, a: Any) -> np.ndarray:
    return np.asarray(setup.backend.to_numpy(a), dtype=np.float64)


def _col(setup: Any, a: Any) -> np.ndarray:
    """A per-time coefficient (n,) as a column broadcast against x's shape."""
    h = _host(setup, a).reshape(-1, 1)
    return np.broadcast_to(h, setup.x_host.shape)


def _kind(ref: Any) -> str:
    from ..sde import SubVPSDE, VESDE, VPSDE

    return "vp" if isinstance(ref, VPSDE) else "subvp" if isinstance(ref, SubVPSDE) else \
        "ve" if isinstance(ref, VESDE) else "other"


def _beta(setup: Any) -> np.ndarray:
    return _host(setup, setup.ref.beta(setup.t64))


def _B(setup: Any, drop_beta_min: str = "") -> np.ndarray:
    """B(t) = int_0^t beta; ``drop_beta_min``: "term" drops the beta_min t term of B, "schedule" integrates
    beta(t) = beta_max t (beta_min dropped from the schedule)."""
    ref, t = setup.ref, setup.t_host
    s = t / ref.T
    if drop_beta_min == "schedule":
        return ref.T * 0.5 * ref.beta_max * s * s
    b0 = 0.0 if drop_beta_min == "term" else ref.beta_min
    return ref.T * s * (b0 + 0.5 * (ref.beta_max - ref.beta_min) * s)


BETA_MIN_SLIPS = (("term", "the integral B(t) of beta without its beta_min t term"),
                  ("schedule", "beta_min dropped from the schedule: B(t) = beta_max t^2 / 2"))


def drift_slips(ref: Any) -> list[Slip]:
    """Slips of f(x, t) = f(t) x."""
    f = lambda st: _host(st, st.ref.drift(st.x64, st.t64))  # noqa: E731
    return [
        Slip("drift_missing_half", "the 1/2 missing in the drift (-beta x instead of -beta x / 2)", lambda st: 2.0 * f(st)),
        Slip("drift_sign", "the drift's sign flipped", lambda st: -f(st)),
        Slip("drift_zero", "no drift term", lambda st: 0.0 * f(st)),
    ]


def diffusion_slips(ref: Any) -> list[Slip]:
    """Slips of g(t)."""
    g = lambda st: _col(st, st.ref.diffusion(st.t64))  # noqa: E731
    slips = [
        Slip("g2_for_g", "g(t)^2 returned as the diffusion g(t)", lambda st: g(st) ** 2),
        Slip("sqrt_g", "sqrt(g(t)) returned as g(t) (g^2 mistaken for g^4)", lambda st: np.sqrt(g(st))),
        Slip("g_sqrt2", "g(t) off by a factor sqrt(2)", lambda st: math.sqrt(2.0) * g(st)),
        Slip("g_over_sqrt2", "g(t) off by a factor 1 / sqrt(2)", lambda st: g(st) / math.sqrt(2.0)),
    ]
    kind = _kind(ref)
    if kind == "ve":
        factor = math.sqrt(2.0 * math.log(ref.sigma_max / ref.sigma_min) / ref.T)
        slips.append(Slip("ve_missing_log_factor", "VE g = sigma(t), missing sqrt(2 log(sigma_max / sigma_min) / T)",
                          lambda st: g(st) / factor))
    if kind == "subvp":
        slips.append(Slip("subvp_uses_vp_g", "sub-VP diffusion sqrt(beta) (the VP one, without sqrt(1 - exp(-2B)))",
                          lambda st: np.broadcast_to(np.sqrt(_beta(st)).reshape(-1, 1), st.x_host.shape)))
    if kind == "vp":
        slips.append(Slip("vp_uses_subvp_g", "VP diffusion with sub-VP's factor sqrt(1 - exp(-2B))",
                          lambda st: np.broadcast_to(np.sqrt(_beta(st) * -np.expm1(-2.0 * _B(st))).reshape(-1, 1),
                                                     st.x_host.shape)))
    return slips


def marginal_mean_slips(ref: Any) -> list[Slip]:
    """Slips of the marginal mean alpha_t x0."""
    alpha = lambda st: _col(st, st.ref.marginal_coefficients(st.t64)[0])  # noqa: E731
    slips = [
        Slip("mean_exponent", "mean exp(-B) x0 instead of exp(-B / 2) x0 (alpha_t^2 for alpha_t)",
             lambda st: alpha(st) ** 2 * st.x_host),
        Slip("mean_no_decay", "mean x0 (no alpha_t)", lambda st: st.x_host.copy()),
        Slip("mean_sqrt_alpha", "mean sqrt(alpha_t) x0 (exp(-B / 4))", lambda st: np.sqrt(alpha(st)) * st.x_host),
    ]
    if _kind(ref) in ("vp", "subvp"):
        for how, text in BETA_MIN_SLIPS:
            slips.append(Slip(f"drops_beta_min_{how}", text,
                              lambda st, how=how: np.exp(-0.5 * _B(st, how)).reshape(-1, 1) * st.x_host))
    return slips


def marginal_std_slips(ref: Any) -> list[Slip]:
    """Slips of the marginal std sigma_t."""
    sigma = lambda st: _col(st, st.ref.marginal_coefficients(st.t64)[1])  # noqa: E731
    slips = [
        Slip("std_is_variance", "the variance sigma_t^2 returned as the std", lambda st: sigma(st) ** 2),
        Slip("std_sqrt", "sqrt(sigma_t) returned as the std", lambda st: np.sqrt(sigma(st))),
    ]
    kind = _kind(ref)
    if kind in ("vp", "subvp"):
        naive = lambda st: np.sqrt(1.0 - np.exp(-_B(st).astype(st.np_dtype))).astype(np.float64)  # noqa: E731
        col = lambda a, st: np.broadcast_to(a.reshape(-1, 1), st.x_host.shape)  # noqa: E731
        if kind == "vp":
            slips.append(Slip("vp_std_cancellation", "the std sqrt(1 - exp(-B)) computed directly: it cancels near "
                              "t = 0 (use sqrt(-expm1(-B)))", lambda st: col(naive(st), st)))
            for how, text in BETA_MIN_SLIPS:
                slips.append(Slip(f"drops_beta_min_{how}", text,
                                  lambda st, how=how: col(np.sqrt(-np.expm1(-_B(st, how))), st)))
        else:
            slips.append(Slip("subvp_std_of_vp", "sub-VP std sqrt(1 - exp(-B)) (the VP one) instead of 1 - exp(-B)",
                              lambda st: col(np.sqrt(-np.expm1(-_B(st))), st)))
    if kind == "ve":
        other = "score_sde" if ref.exact else "exact"

        def ve_other(st: Any) -> np.ndarray:
            from ..sde import VESDE

            alt = VESDE(sigma_min=st.ref.sigma_min, sigma_max=st.ref.sigma_max, T=st.ref.T, convention=other)
            return _col(st, alt.marginal_coefficients(st.t64)[1])

        text = ("VE std sigma(t) (score_sde's convention) against the exact sqrt(sigma(t)^2 - sigma_min^2)" if ref.exact
                else "VE std sqrt(sigma(t)^2 - sigma_min^2) (the exact convention) against score_sde's sigma(t)")
        slips.append(Slip("ve_convention", text, ve_other))
    return slips


def prior_std_slips(ref: Any) -> list[tuple[str, float]]:
    """(text, std) of the prior stds a slip would give (the sample test compares the observed std with each)."""
    out = [("the prior N(0, I) instead of N(0, prior_std^2 I)", 1.0)]
    if _kind(ref) == "ve":
        if ref.exact:
            out.append(("VE prior std sigma_max (score_sde's convention) instead of sqrt(sigma_max^2 - sigma_min^2)",
                        ref.sigma_max))
        else:
            out.append(("VE prior std sqrt(sigma_max^2 - sigma_min^2) (the exact convention) instead of score_sde's "
                        "sigma_max", ref.sigma_min * math.sqrt(math.expm1(2.0 * math.log(ref.sigma_max / ref.sigma_min)))))
    return out


def prior_logp_slips(prior_std: float) -> list[tuple[str, Callable[[np.ndarray], np.ndarray]]]:
    """(text, logp(z) host float64) of the prior log-density slips."""
    s2 = prior_std * prior_std

    def terms(z: np.ndarray) -> np.ndarray:
        return z.reshape(z.shape[0], -1)

    return [
        ("the log-density without its constant -D/2 log(2 pi s^2)",
         lambda z: -np.sum(terms(z) ** 2, axis=1) / (2.0 * s2)),
        ("the log-density averaged over dimensions instead of summed",
         lambda z: np.mean(-terms(z) ** 2 / (2.0 * s2) - 0.5 * math.log(2.0 * math.pi * s2), axis=1)),
        ("log(2 pi s) instead of log(2 pi s^2) in the constant",
         lambda z: np.sum(-terms(z) ** 2 / (2.0 * s2) - 0.5 * math.log(2.0 * math.pi * prior_std), axis=1)),
        ("the log-density of N(0, I) instead of N(0, s^2 I)",
         lambda z: np.sum(-terms(z) ** 2 / 2.0 - 0.5 * math.log(2.0 * math.pi), axis=1)),
    ]


# ---- samplers: laws and paths under a slip ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SamplerSlip:
    """A known slip of a sampler, as what to change in the check's own target: ``run_slip`` (a flag the scheme
    steps and the score of :class:`refsde.testing._schemes.Run` read), or another ``scheme`` / ``options`` /
    ``final`` / ``levels`` / ``step_sizes`` / ``grid`` ("default": linspace(T, eps, n_steps + 1)), or a map of the
    step's noise coefficients (``noise``: "sqrt2", "squared", "none")."""

    name: str
    text: str
    run_slip: str = ""
    scheme: str | None = None
    options: dict | None = None
    final: str | None = None
    levels: Any = None
    step_sizes: Any = None
    grid: Any = None
    noise: str | None = None
    init_scale: str | None = None  # "down": x_T times sig0 / sqrt(1 + sig0^2); "up": its inverse (sig0 = sigma~ at t_0)


# scheme -> its options a candidate may have set otherwise (another documented setting): (default, others...)
OPTION_VARIANTS: dict[str, dict[str, tuple]] = {
    "ddpm": {"variance": ("fixed_small", "fixed_large")},
    "ddim": {"eta": (0.0, 1.0)},
    "euler_ancestral": {"eta": (1.0, 0.0)},
    "dpm_solver": {"order": (2, 3)},
    "dpm_solver_pp": {"variant": ("taylor", "dpm_solver"), "lower_order_final": (False, True), "order": (2, 3)},
    "pc": {"order": ("predictor_first", "corrector_first"),
           "predictor": ("reverse_diffusion", "euler_maruyama", "ancestral")},
}
# scheme -> (other scheme, what that slip is): a lower-order scheme where the correction is dropped, or a sibling
SCHEME_SUBSTITUTES: dict[str, tuple[tuple[str, str], ...]] = {
    "heun": (("euler", "Heun's average dropped: the Euler step y - h F(y, t_k) (first order)"),),
    "rk4": (("heun", "Heun's two stages instead of RK4's four"), ("euler", "a single Euler stage instead of RK4's four")),
    "edm_heun": (("edm_euler", "Heun's correction dropped: the Euler step in sigma~ (first order)"),),
    "dpm_solver_pp": (("ddim", "no multistep correction: the first-order DDIM / DPM-Solver-1 step"),),
    "dpm_solver_2m": (("ddim", "no multistep correction: the first-order DDIM / DPM-Solver-1 step"),),
    "dpm_solver": (("ddim", "no intermediate stage: the first-order DDIM / DPM-Solver-1 step"),),
    "reverse_diffusion": (("ancestral", "ancestral sampling (DDPM / SMLD posterior steps) instead of reverse diffusion"),
                          ("euler_maruyama", "Euler-Maruyama on the reverse SDE instead of the reverse chain")),
    "ancestral": (("reverse_diffusion", "reverse diffusion instead of ancestral sampling"),),
    "euler_maruyama": (("reverse_diffusion", "the reverse chain (reverse diffusion) instead of Euler-Maruyama"),),
    "ddpm": (("ddim", "DDIM (eta = 1) instead of DDPM's posterior step"),),
}
STEP_SLIPS: dict[str, tuple[tuple[str, str], ...]] = {
    "euler_maruyama": (("g_for_g2", "g(t) in place of g(t)^2 in the drift's score term"),
                       ("drift_sign", "the step x + (f x - g^2 s) h: dt with the wrong sign"),
                       ("half_score_term", "the probability-flow weight 1/2 on the score term of the reverse SDE "
                                           "(f - g^2 s / 2 with noise)"),
                       ("right_end", "coefficients and score evaluated at the right end t_{k+1} of each step")),
    "euler": (("g_for_g2", "g(t) in place of g(t)^2 in the PF drift"),
              ("full_score_term", "the reverse-SDE drift f - g^2 s in the ODE (the 1/2 missing)"),
              ("right_end", "coefficients and score evaluated at the right end t_{k+1} of each step")),
    "heun": (("g_for_g2", "g(t) in place of g(t)^2 in the PF drift"),
             ("full_score_term", "the reverse-SDE drift f - g^2 s in the ODE (the 1/2 missing)"),
             ("second_stage_at_start", "Heun's second stage evaluated at t_k (one grid index early)")),
    "rk4": (("g_for_g2", "g(t) in place of g(t)^2 in the PF drift"),
            ("full_score_term", "the reverse-SDE drift f - g^2 s in the ODE (the 1/2 missing)")),
    "edm_heun": (("second_stage_at_start", "Heun's second stage evaluated at sigma_k (one grid index early)"),
                 ("stage2_x0_sigma_early", "Heun's second-stage x0 = x - sigma_k eps with the stage's start sigma "
                                           "(one index early) instead of sigma_{k+1}"),
                 ("x0_next_sigma", "x0 = x - sigma_{k+1} eps with the next grid sigma (an index off by one)")),
    "ddim": (("direction_at_start", "DDIM's direction coefficient sqrt(1 - abar_t) (at the step's start) instead of "
                                    "sqrt(1 - abar_prev)"),
             ("std_squared", "DDIM's noise std eta sigma~ replaced by its square (the square root dropped)"),
             ("x0_next_sigma", "x0 = x - sigma_{k+1} eps with the next grid sigma (an index off by one)")),
    "edm_euler": (("x0_next_sigma", "x0 = x - sigma_{k+1} eps with the next grid sigma (an index off by one)"),),
    "euler_ancestral": (("step_to_sigma_to", "the deterministic part steps to sigma_{k+1}, not to sigma_down"),
                        ("x0_next_sigma", "x0 = x - sigma_{k+1} eps with the next grid sigma (an index off by one)")),
    "dpm_solver_pp": (("ratio_in_t", "the step ratio r = h_prev / h computed in t instead of in log-SNR"),
                      ("correction_sign", "the multistep correction's sign flipped"),
                      ("correction_double", "the multistep correction's 1/2 dropped"),
                      ("r1_over_h0", "3M's second ratio r1 = h_1 / h_0 instead of h_1 / h")),
    "dpm_solver_2m": (("ratio_in_t", "the step ratio r = h_prev / h computed in t instead of in log-SNR"),
                      ("correction_sign", "the multistep correction's sign flipped"),
                      ("correction_double", "the multistep correction's 1/2 dropped")),
    "reverse_diffusion": (("right_end", "the score evaluated at the right end t_{k+1} of each step"),),
    "ancestral": (("right_end", "the score evaluated at the right end t_{k+1} of each step"),),
}
SCORE_SLIPS = (("score_sign", "the score's sign flipped"),
               ("eps_as_score", "a noise prediction eps = -sigma_t s used as the score"),
               ("score_next", "the score evaluated one grid time later (the timestep index one off)"),
               ("score_prev", "the score evaluated one grid time earlier (the timestep index one off)"))


def sampler_slips(scheme_name: str, options: dict, conv: Any, stochastic: bool, *, uses_levels: bool,
                  grid_given: bool) -> list[SamplerSlip]:
    """The known slips and convention mix-ups of a sampler judged as ``scheme_name`` on conventions ``conv``."""
    out = [SamplerSlip(n, t, run_slip=n) for n, t in SCORE_SLIPS]
    out += [SamplerSlip(n, t, run_slip=n) for n, t in STEP_SLIPS.get(scheme_name, ())]
    for other, text in SCHEME_SUBSTITUTES.get(scheme_name, ()):
        out.append(SamplerSlip(f"scheme_{other}", text, scheme=other))
    for key, values in OPTION_VARIANTS.get(scheme_name, {}).items():
        current = options.get(key, values[0])
        for value in values:
            if value != current:
                out.append(SamplerSlip(f"option_{key}_{value}", f"option {key} = {value!r} where {current!r} was "
                                       "declared", options={**options, key: value}))
    for final in ("none", "mean", "denoise"):
        if final != conv.final and (stochastic or final != "mean"):
            what = {"none": "output at the last grid time without a final denoising step",
                    "mean": "the last step without its noise (score_sde's denoise=True)",
                    "denoise": "a final Tweedie denoising step E[x_0 | x_t] after the last grid time"}[final]
            out.append(SamplerSlip(f"final_{final}", f"final = {final!r}: {what}", final=final))
    if uses_levels:
        out.append(SamplerSlip("levels_other", "the chain levels indexed the other way (score_sde's floor(t (N - 1) / T) "
                               "vs refsde's N - 1 - k)", levels="other"))
    if stochastic:
        out += [SamplerSlip("noise_sqrt2", "the noise std off by a factor sqrt(2)", noise="sqrt2"),
                SamplerSlip("noise_squared", "the noise variance used as its std (e.g. g h z instead of g sqrt(h) z)",
                            noise="squared"),
                SamplerSlip("noise_none", "no noise at all (a deterministic update)", noise="none"),
                SamplerSlip("noise_unscaled", "the noise not scaled by sqrt(h) (g z instead of g sqrt(h) z)",
                            noise="unscaled")]
        if scheme_name == "euler_maruyama" and conv.step_sizes is None:
            out.append(SamplerSlip("step_T_over_N", "steps of size T / n_steps on the grid (score_sde's dt = -1 / N) "
                                   "where the grid spacing was declared", step_sizes="T/N"))
    if scheme_name in ("edm_euler", "edm_heun", "euler_ancestral", "ddim"):
        out.append(SamplerSlip("init_down", "the initial state sigma~_0 z (diffusers' init_noise_sigma for x~) instead of "
                               "x_T / alpha_0 = sqrt(1 + sigma~_0^2) z", init_scale="down"))
        out.append(SamplerSlip("init_up", "the initial state sqrt(1 + sigma~_0^2) z (diffusers' EDM init_noise_sigma) "
                               "instead of sigma~_0 z", init_scale="up"))
    if grid_given:
        out.append(SamplerSlip("grid_default", "refsde's uniform grid linspace(T, eps, n_steps + 1) instead of the "
                               "declared grid", grid="default"))
    return out
