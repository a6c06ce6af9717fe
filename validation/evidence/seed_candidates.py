"""The seed documents' findings: every seed piece that maps to a :mod:`refsde.testing` check, the check that
judges it, and the verdict expected.  ``python -m refsde_validation.evidence.seed_candidates`` runs them
all and prints a Markdown table (seed file, object, error, check, verdict, message excerpt).

Seeds (../shared/seeds/): 000 "SDE Fundamentals", 001 "Diffusion as SDEs" (chapter 15), 002 "The SDE View
of Diffusion Models" (prose only), 003 an index README (no code, nothing to check), 004 "Score-Based
Diffusion & SDEs".  The candidates are in :mod:`.seeds_sde`, :mod:`.seeds_samplers`, :mod:`.seeds_losses`.

Each :class:`SeedCase` says what the check must do:

* ``"pass"``   -- a correct piece: the check returns a report;
* ``"fail"``   -- an erroneous piece: the check raises ConformanceError on ``prop`` (the property named);
* ``"raises"`` -- the candidate itself raises ``ValueError`` inside the check (001's RK4 calls the score at t > T);
* ``"missed"`` -- a seed error that no check catches with the call given (documented gap).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import refsde

from . import seeds_losses as L
from . import seeds_samplers as P
from . import seeds_sde as S

SAMPLER_STEPS = 200  # n_steps of the seeds' stochastic samplers in the checks (fast; band ~ 4% of the variance)
SAMPLER_REL_STD = 0.1  # relative std error detected with power 0.99 beyond that band


def find_check(name: str) -> Callable[..., Any] | None:
    """The check ``name`` from refsde.testing (or the module that defines it), None if not (yet) there."""
    for mod in ("refsde.testing", f"refsde.testing.{name}", "refsde.testing.check_samplers",
                "refsde.testing.check_corrector", "refsde.testing.check_loss", "refsde.testing.check_likelihood",
                "refsde.testing.check_forward_sde"):
        try:
            fn = getattr(importlib.import_module(mod), name, None)
        except ImportError:
            fn = None
        if callable(fn):
            return fn
    return None


def refs() -> dict[str, Any]:
    """The reference SDEs (the seeds' parameters: beta in [0.1, 20], sigma in [0.01, 50], T = 1)."""
    return {
        "vp": refsde.VPSDE(beta_min=0.1, beta_max=20.0),
        "subvp": refsde.SubVPSDE(beta_min=0.1, beta_max=20.0),
        "ve": refsde.VESDE(sigma_min=0.01, sigma_max=50.0, convention="score_sde"),
        "ve_exact": refsde.VESDE(sigma_min=0.01, sigma_max=50.0),
    }


@dataclass(frozen=True)
class SeedCase:
    """One seed piece judged by one check call."""

    id: str
    seed: str
    obj: str
    check: str
    ref: str
    make: Callable[[dict[str, Any]], tuple]  # refs -> positional candidate args of the check
    expect: str  # "pass" | "fail" | "raises" | "missed"
    error: str = ""  # the seed's error in one line ("" for a correct piece)
    prop: str = ""  # the property the ConformanceError must name (expect == "fail")
    kwargs: dict[str, Any] = field(default_factory=dict)


def _ref_sde(r: dict, key: str) -> Callable:
    return r[key].sde


_SS = {"n_steps": SAMPLER_STEPS, "rel_std_error": SAMPLER_REL_STD}
# 001's likelihood is Euler (first order): at 200 steps its bias is 0.21 nats (0.05 at the seed's 1000), far above
# the check's 5e-3-nat tolerance for accurate solvers, so it is judged with atol = 0.5 nats; the sign error is ~9 nats.
_LIK_EULER = {"stochastic": True, "n": 64, "atol": 0.5}
_LIK = {"stochastic": True, "n": 64}

CASES: tuple[SeedCase, ...] = (
    # ---- 001: forward SDEs ---------------------------------------------------------------------------------
    SeedCase("001-vp-sde", "001", "VPSDE.sde / ForwardSDE.drift_coef, diffusion_coef", "check_coefficients", "vp",
             lambda r: (S.seed001_vp_sde(),), "pass"),
    SeedCase("001-vp-marginal", "001", "VPSDE.marginal_prob / ForwardSDE.marginal_prob", "check_marginal", "vp",
             lambda r: (S.seed001_vp_marginal(),), "fail",
             "std = sqrt(1 - exp(-B)) cancels for small t: rel. error ~ eps/B (2e-9 at t = 1e-7 in float64, 100% in float32)",
             "marginal std"),
    SeedCase("001-vp-marginal-rtol", "001", "VPSDE.marginal_prob (tolerance 1e-6: the formula itself)", "check_marginal", "vp",
             lambda r: (S.seed001_vp_marginal(),), "pass", kwargs={"rtol": 1e-6}),
    SeedCase("001-d2c", "001", "discrete_to_continuous_params (beta on a grid, interpolated)", "check_coefficients", "vp",
             lambda r: (S.seed001_discrete_to_continuous_sde(),), "fail",
             "beta = -2 d log(alpha_bar)/dt: log alpha_bar = -B(t), so beta = -d log(alpha_bar)/dt (factor 2)",
             "drift f(x, t)", {"rtol": 0.25}),
    SeedCase("001-d2c-fixed", "001", "discrete_to_continuous_params with factor -1 (finite-difference error < 20%)",
             "check_coefficients", "vp", lambda r: (S.seed001_discrete_to_continuous_sde(factor=-1.0),), "pass",
             kwargs={"rtol": 0.25}),
    SeedCase("001-ve-sde", "001", "VESDE.sde", "check_coefficients", "ve", lambda r: (S.seed001_ve_sde(),), "pass"),
    SeedCase("001-ve-marginal", "001", "VESDE.marginal_prob (score_sde convention)", "check_marginal", "ve",
             lambda r: (S.seed001_ve_marginal(),), "pass"),
    SeedCase("001-ve-marginal-exact", "001", "VESDE.marginal_prob vs the exact convention", "check_marginal", "ve_exact",
             lambda r: (S.seed001_ve_marginal(),), "fail",
             "(convention, not an error) std sigma(t) is score_sde's; the SDE started at x0 has sqrt(sigma^2 - sigma_min^2)",
             "marginal std"),
    SeedCase("001-subvp-sde", "001", "SubVPSDE.sde", "check_coefficients", "subvp", lambda r: (S.seed001_subvp_sde(),), "fail",
             "g = sqrt(beta (1 - exp(-2B))) cancels for small t (rel. error 8e-10 at t = 1e-7 in float64)", "diffusion g(t)"),
    SeedCase("001-subvp-sde-rtol", "001", "SubVPSDE.sde (tolerance 1e-6: the formula itself)", "check_coefficients", "subvp",
             lambda r: (S.seed001_subvp_sde(),), "pass", kwargs={"rtol": 1e-6}),
    SeedCase("001-subvp-marginal", "001", "SubVPSDE.marginal_prob", "check_marginal", "subvp",
             lambda r: (S.seed001_subvp_marginal(),), "fail",
             "std = sqrt(1 - e^{-B}) is the VP std; sub-VP's is 1 - e^{-B} (1e4 x too large at t = 1e-7)", "marginal std",
             {"rtol": 1e-6}),
    # ---- 001: priors --------------------------------------------------------------------------------------
    SeedCase("001-vp-prior", "001", "VPSDE.prior_sampling + compute_log_likelihood's log N(z; 0, I)", "check_prior", "vp",
             lambda r: (S.seed001_prior_sample(), S.seed001_prior_logp), "fail",
             "log p_T sums over the last axis only and uses d = z.shape[-1]: wrong for non-flat (n, C, H, W) data",
             "prior logp shape"),
    SeedCase("001-vp-prior-flat", "001", "VPSDE.prior_sampling + log N(z; 0, I) on flattened z", "check_prior", "vp",
             lambda r: (S.seed001_prior_sample(), S.seed001_prior_logp_flat), "pass"),
    SeedCase("001-ve-prior", "001", "VESDE.prior_sampling + compute_log_likelihood's log N(z; 0, I)", "check_prior", "ve",
             lambda r: (S.seed001_prior_sample(50.0), S.seed001_prior_logp_flat), "fail",
             "the likelihood's prior is N(0, I) whatever the SDE; VE's is N(0, sigma_max^2 I)", "prior logp"),
    SeedCase("001-ve-prior-sampling", "001", "VESDE.prior_sampling (with refsde's log-density)", "check_prior", "ve",
             lambda r: (S.seed001_prior_sample(50.0), r["ve"].prior_logp), "pass"),
    # ---- reverse-SDE samplers -----------------------------------------------------------------------------
    SeedCase("000-em", "000", "reverse_sde_sample (VP coefficients)", "check_sde_sampler", "vp",
             lambda r: (P.seed000_reverse_sde_sample(_ref_sde(r, "vp")),), "pass", kwargs=_SS),
    SeedCase("000-em-ve", "000", "reverse_sde_sample (VE coefficients)", "check_sde_sampler", "ve",
             lambda r: (P.seed000_reverse_sde_sample(_ref_sde(r, "ve")),), "pass", kwargs=_SS),
    SeedCase("001-reverse", "001", "ReverseSDE.sample", "check_sde_sampler", "vp",
             lambda r: (P.seed001_reverse_sde_sample(),), "pass", kwargs=_SS),
    SeedCase("001-em-vp", "001", "euler_maruyama_sampler (seed's VPSDE)", "check_sde_sampler", "vp",
             lambda r: (P.seed001_euler_maruyama_sampler(S.seed001_vp_sde()),), "pass", kwargs=_SS),
    SeedCase("001-em-ve", "001", "euler_maruyama_sampler (seed's VESDE)", "check_sde_sampler", "ve",
             lambda r: (P.seed001_euler_maruyama_sampler(S.seed001_ve_sde()),), "pass", kwargs=_SS),
    SeedCase("001-em-subvp", "001", "euler_maruyama_sampler (seed's SubVPSDE)", "check_sde_sampler", "subvp",
             lambda r: (P.seed001_euler_maruyama_sampler(S.seed001_subvp_sde()),), "pass", kwargs=_SS),
    SeedCase("001-pc", "001", "PredictorCorrectorSampler.sample", "check_sde_sampler", "vp",
             lambda r: (P.seed001_pc_sampler(S.seed001_vp_sde()),), "pass", kwargs=_SS),
    SeedCase("004-em", "004", "euler_maruyama_step looped (VP)", "check_sde_sampler", "vp",
             lambda r: (P.seed004_euler_maruyama_sampler(),), "pass", kwargs=_SS),
    SeedCase("004-em-text", "004", "the displayed Euler-Maruyama formula", "check_sde_sampler", "vp",
             lambda r: (P.seed004_euler_maruyama_sampler(text_sign=True),), "fail",
             "x_{t-dt} = x_t + [f - g^2 s] dt + g sqrt(dt) z with dt > 0: the drift must be subtracted", "output variance",
             _SS),
    SeedCase("004-pc", "004", "predictor_corrector_sample (VP)", "check_sde_sampler", "vp",
             lambda r: (P.seed004_pc_sampler(),), "fail",
             "corrector step e = snr (|z|/|s|)^2 instead of 2 (snr |z|/|s|)^2: 3.1x too large at snr = 0.16",
             "output variance", {**_SS, "n": 8000}),
    SeedCase("004-pc-fixed", "004", "predictor_corrector_sample with e = 2 (snr |z|/|s|)^2", "check_sde_sampler", "vp",
             lambda r: (P.seed004_pc_sampler(fix=True),), "pass", kwargs={**_SS, "n": 8000}),
    # ---- probability-flow ODE samplers ----------------------------------------------------------------------
    SeedCase("001-ode-euler", "001", "ProbabilityFlowODE.sample_ode(method='euler')", "check_ode_sampler", "vp",
             lambda r: (P.seed001_sample_ode(S.seed001_vp_sde()),), "fail",
             "x <- x + drift (-dt) with dt = -1/n steps forwards in time while t decreases (sign)", "convergence order",
             {"n": 64}),
    SeedCase("001-ode-rk4", "001", "ProbabilityFlowODE.sample_ode(method='rk4')", "check_ode_sampler", "vp",
             lambda r: (P.seed001_sample_ode(S.seed001_vp_sde(), "rk4"),), "fail",
             "RK4 with step +1/n from t = 1 evaluates the score at t = 1 + 1/(2n) > T (same sign error; the check's "
             "exact score extends beyond T for VP, so the piece is judged on its output)", "convergence order",
             {"n": 64}),
    SeedCase("004-ode-euler", "004", "euler_ode_step looped (VP)", "check_ode_sampler", "vp",
             lambda r: (P.seed004_euler_ode_sampler(),), "pass", kwargs={"n": 64}),
    # ---- correctors ------------------------------------------------------------------------------------------
    SeedCase("001-corrector", "001", "PredictorCorrectorSampler.corrector_step", "check_corrector", "vp",
             lambda r: (P.seed001_langevin_corrector(),), "fail",
             "e = 2 (snr / |s|)^2 lacks the noise norm |z|^2 ~ d: a valid but d-times smaller Langevin step",
             "step size (snr rule)", {"snr": 0.16}),
    SeedCase("004-corrector", "004", "predictor_corrector_sample's corrector", "check_corrector", "vp",
             lambda r: (P.seed004_langevin_corrector(),), "fail",
             "e = snr (|z|/|s|)^2 instead of 2 (snr |z|/|s|)^2: 3.1x too large at snr = 0.16 (also caught in 004-pc)",
             "step size (snr rule)", {"snr": 0.16}),
    # ---- losses -------------------------------------------------------------------------------------------------
    SeedCase("000-loss", "000", "continuous_score_matching_loss (lambda = 1)", "check_dsm_loss", "vp",
             lambda r: (L.seed000_dsm_loss(r["vp"].marginal),), "pass",
             kwargs={"weighting": "none", "max_samples": 200_000}),
    SeedCase("000-loss-sigma2", "000", "continuous_score_matching_loss judged as lambda = sigma^2", "check_dsm_loss", "vp",
             lambda r: (L.seed000_dsm_loss(r["vp"].marginal),), "fail",
             "'Weighted MSE loss' is unweighted: E L is 378x the sigma^2 objective (the t-tests' |t| = 3.4: heavy tail)",
             "DSM loss weighting (score error c u / sigma_t)",
             {"weighting": "sigma2", "backend": "numpy"}),  # on NumPy's stream; torch's fails the perturbed-score t-test first
    SeedCase("002-loss", "002", "training algorithm: t ~ U(0, T), plain |s - grad log q|^2", "check_dsm_loss", "vp",
             lambda r: (L.seed000_dsm_loss(r["vp"].marginal, eps=0.0),), "fail",
             "t ~ U(0, T): the unweighted VP objective diverges (int dt / sigma_t^2 ~ log) and t = 0 divides by 0",
             "DSM loss: time range", {"weighting": "none"}),
    SeedCase("001-train", "001", "SDEDiffusionModel.train_step's loss", "check_dsm_loss", "vp",
             lambda r: (L.seed001_train_step_loss(S.seed001_vp_marginal(), rescale=2.0),), "fail",
             "t ~ U(0, 1) without eps: t = 0 gives std = 0, target -z/0, loss 0 * inf = NaN (times 2 here, so only "
             "the time range is wrong; caught when one of the m n draws falls below eps: probability ~0.5 at these sizes)",
             "DSM loss: time range",
             # pinned to NumPy's stream, on which a draw falls below eps; the effect on the expectation is O(eps),
             # so on a stream without such a draw the piece passes, which is the right verdict for that run
             {"backend": "numpy"}),
    SeedCase("001-train-eps", "001", "train_step's loss with t ~ U(eps, 1)", "check_dsm_loss", "vp",
             lambda r: (L.seed001_train_step_loss(S.seed001_vp_marginal(), eps=1e-5),), "fail",
             "(convention) 0.5 sum (score_sde's reduce_mean=False); the check's objective has no 1/2",
             "DSM loss expectation (exact score)"),
    SeedCase("001-train-eps-x2", "001", "train_step's loss with t ~ U(eps, 1), times 2", "check_dsm_loss", "vp",
             lambda r: (L.seed001_train_step_loss(S.seed001_vp_marginal(), eps=1e-5, rescale=2.0),), "pass"),
    # ---- likelihoods ---------------------------------------------------------------------------------------------
    SeedCase("001-loglik", "001", "compute_log_likelihood (VP)", "check_log_likelihood", "vp",
             lambda r: (L.seed001_log_likelihood(S.seed001_vp_sde(), 200, 2),), "fail",
             "returns log p_T - int div f~ dt; the change of variables gives + (Song et al. eq. 40)",
             "log-likelihood mean (stochastic)", _LIK_EULER),
    SeedCase("001-loglik-fixed", "001", "compute_log_likelihood with + delta (VP)", "check_log_likelihood", "vp",
             lambda r: (L.seed001_log_likelihood(S.seed001_vp_sde(), 200, 2, fix_sign=True),), "pass",
             kwargs=_LIK_EULER),
    SeedCase("004-loglik", "004", "compute_log_likelihood (VP)", "check_log_likelihood", "vp",
             lambda r: (L.seed004_log_likelihood(num_steps=50),), "fail",
             "flattens the batch into one ODE state: one scalar per batch (also sign and -(d/2) log 2 pi, below)",
             "log-likelihood shape", _LIK),
    SeedCase("004-loglik-sign", "004", "compute_log_likelihood per sample, constant fixed", "check_log_likelihood", "vp",
             lambda r: (L.seed004_log_likelihood(num_steps=50, per_sample=True, fix_constant=True),), "fail",
             "log p_T - delta: sign of the divergence integral", "log-likelihood mean (stochastic)", _LIK),
    SeedCase("004-loglik-const", "004", "compute_log_likelihood per sample, sign fixed", "check_log_likelihood", "vp",
             lambda r: (L.seed004_log_likelihood(num_steps=50, per_sample=True, fix_sign=True),), "fail",
             "log p_T = -|x_T|^2/2 lacks -(d/2) log(2 pi) = -2.76 nats (one Hutchinson probe, sd 7 nats: needs n = 1024)",
             "log-likelihood mean (stochastic)", {"stochastic": True, "n": 1024}),
    SeedCase("004-loglik-fixed", "004", "compute_log_likelihood per sample, sign and constant fixed", "check_log_likelihood",
             "vp", lambda r: (L.seed004_log_likelihood(num_steps=50, per_sample=True, fix_sign=True, fix_constant=True),), "pass",
             kwargs=_LIK),
)


def run_case(case: SeedCase) -> tuple[str, str]:
    """Run one case: (verdict, message) with verdict "pass", "fail: <property>", "raises: <type>" or "no check"."""
    from refsde.testing import ConformanceError

    check = find_check(case.check)
    if check is None:
        return "no check", f"{case.check} is not available in refsde.testing"
    r = refs()
    try:
        check(*case.make(r), r[case.ref], **case.kwargs)
    except ConformanceError as e:
        return f"fail: {e.property}", str(e)
    except ValueError as e:
        return f"raises: {type(e).__name__}", str(e)
    return "pass", ""


def _excerpt(msg: str, width: int = 150) -> str:
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
    keep = [ln for ln in lines if ln.startswith(("expected", "got", "relative error", "|", "z", "at input"))][:3]
    text = " / ".join(([lines[0].split(" to reference")[0]] if lines else []) + keep)
    return (text[: width - 3] + "...") if len(text) > width else text


def main() -> None:
    print("| id | seed | object | error | check | expected | verdict | message excerpt |")
    print("|---|---|---|---|---|---|---|---|")
    for case in CASES:
        verdict, msg = run_case(case)
        cells = [case.id, case.seed, case.obj, case.error or "-", case.check, case.expect, verdict, _excerpt(msg) if msg else "-"]
        print("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")


if __name__ == "__main__":
    main()
