"""diffusers' discrete-time schedulers (0.42.1) at their default configurations, judged by refsde.testing.

The adapters, references, grids and planted bugs are in
:mod:`refsde_validation.evidence.diffusers_schedulers` (its docstring states every convention).  Every
correct scheduler must pass the check a user would call (``method=`` the scheme it implements, on the
scheduler's own grid and default step count); every planted bug (diffusers' own method source with one
line replaced) must be caught, with the property named.  The file skips cleanly without torch or
diffusers, and under any ``REFSDE_BACKEND`` but numpy (the checks run with ``backend="torch"`` and the
schedulers' float32 whatever the backend, so the default pass runs them once).

Statistical checks (DDPM, DDIM eta = 1, EulerAncestral) run at their default family-wise false-alarm
rate alpha = 1e-6 per check, with the check's seed 0 and the adapters' seed 2021, so every verdict is
deterministic; their sample size is the checks' default design (a 3% relative std error in one
eigen-direction detected with power 0.99: 32704 samples).  Deterministic checks (the ODE schedulers)
have no false alarms: path by path against the scheme in float64, tolerance 4 x the derived float32
rounding budget.  About 60 s on 2 cores (each of the eight 1000-step DDPM checks takes 4-5 s).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from refsde.testing import ConformanceError

pytest.importorskip("torch")
if os.environ.get("REFSDE_BACKEND", "numpy") != "numpy":
    pytest.skip("the checks run on backend='torch' whatever REFSDE_BACKEND: once, in the default (numpy) pass",
                allow_module_level=True)
pytest.importorskip("diffusers")

from refsde_validation.evidence import diffusers_schedulers as ds  # noqa: E402  (after the skips)

# diffusers' own warnings, not refsde's: numpy 2's __array__ copy keyword (its float32 sigma tables) and the
# deprecation of algorithm_type="dpmsolver" (still in 0.42.1, the dpm_2m_noise row)
pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
              pytest.mark.filterwarnings("ignore:`algorithm_types dpmsolver and sde-dpmsolver` is deprecated")]


def _ids(items: list) -> list[str]:
    return [item.name for item in items]


def _statistical(case: ds.Case) -> list:
    return [pytest.mark.statistical] if case.kind == "sde" else []


# ---- the correct schedulers -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [pytest.param(c, marks=_statistical(c)) for c in ds.CASES], ids=_ids(ds.CASES))
def test_correct_scheduler_passes(case: ds.Case) -> None:
    report = ds.check_call(case)()
    assert report.passed
    assert report.dtype == "float32" and report.backend == "torch"


@pytest.mark.parametrize("case", ds.CASES, ids=_ids(ds.CASES))
def test_adapter_is_at_most_five_lines(case: ds.Case) -> None:
    assert ds.adapter_lines(case.adapter(case.cls(), case.config, ds.SEED)) <= 5


# ---- conventions stated differently (not bugs of the step) ----------------------------------------------------------
def test_heun_with_init_noise_sigma_is_resolved() -> None:
    # diffusers' init_noise_sigma for "linspace" is sigma~_0 = 25.1 (Heun's betas), 1/(2 sigma~_0^2) = 7.9e-4 below
    # the x~_0 = x_T / alpha of the check's prior N(0, I): 3e-4 std at the output, 7.8 x the float32 tolerance
    with pytest.raises(ConformanceError) as info:
        ds.check_call(ds.find_case("heun_init_noise_sigma"))()
    assert info.value.property == "edm_heun path x" and info.value.statistic > 5.0
    assert info.value.cause.startswith("likely cause: the initial state sigma~_0 z"), info.value.cause


def test_edm_with_init_noise_sigma_is_resolved() -> None:
    # diffusers' EDMEulerScheduler.init_noise_sigma sqrt(80^2 + 1) puts x_0 7.8e-5 above EDM's prior N(0, 80^2):
    # 1.1 x the tolerance of the Euler form at 25 steps (sigma-space Euler as diffusers writes it: the derivative
    # from D), named as the initial-state convention
    with pytest.raises(ConformanceError) as info:
        ds.check_call(ds.find_case("edm_euler_init_noise_sigma"))()
    assert info.value.property == "edm_euler path x"
    assert info.value.cause.startswith("likely cause: the initial state sqrt(1 + sigma~_0^2) z"), info.value.cause


@pytest.mark.parametrize("name", ["euler_init_noise_sigma", "euler_log_alpha_reference"])
def test_conventions_below_the_rounding_tolerance(name: str) -> None:
    # Euler's sigma~_0 = 157 (2e-5 relative) and a log-alpha reference for a sigma-interpolating scheduler
    # (1.1e-4 between entries) stay within 4 x the rounding budget at 25 steps
    report = ds.check_call(ds.find_case(name))()
    key = next(k for k in report.statistics if k.endswith("/ tolerance"))
    assert 0.0 < report.statistics[key] < 1.0


def test_dpmpp_3m_is_the_published_second_order_update() -> None:
    # diffusers' 3M halves the quadratic term (Lu et al. 2022b's published update): it passes as
    # variant="dpm_solver" (test_correct_scheduler_passes) and is 29 x the tolerance from the Taylor 3M
    with pytest.raises(ConformanceError) as info:
        ds.check_call(ds.find_case("dpmpp_3m_as_taylor"))()
    assert info.value.property == "dpm_solver_pp(lower_order_final=True, order=3) path x"
    assert info.value.statistic > 10.0


# ---- the planted bugs -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bug", [pytest.param(b, marks=_statistical(ds.find_case(b.case))) for b in ds.PLANTED],
                         ids=_ids(ds.PLANTED))
def test_planted_bug_is_caught(bug: ds.Bug) -> None:
    """Caught with the property named, and (PLANTED_CAUSES) the cause named where the slip tables model the bug."""
    case = ds.find_case(bug.case)
    with pytest.raises(ConformanceError) as info:
        ds.check_call(case, bug.scheduler_class())()
    assert info.value.property == bug.expect
    expected, cause = PLANTED_CAUSES[bug.name], info.value.cause
    if expected is None:
        assert not cause.startswith("likely"), cause
    else:
        assert cause.startswith("likely") and expected in cause.split(" under the reference")[0], cause


def test_planted_text_must_occur_once() -> None:
    with pytest.raises(RuntimeError, match="occurs 0 times"):
        ds.patched(ds.find_case("euler").cls(), "step", "no such line", "x")


# ---- the conventions the adapters state, checked against diffusers itself -------------------------------------------
@pytest.mark.parametrize("name", ["EulerDiscreteScheduler", "HeunDiscreteScheduler", "EulerAncestralDiscreteScheduler"])
@pytest.mark.parametrize("n_steps", [7, 25, 333])
def test_sigma_interpolation_is_diffusers_linear_interpolation(name: str, n_steps: int) -> None:
    # interpolation="sigma" at t = (tau + 1) / N is np.interp of the sigma table at the float timestep tau (their
    # interpolation_type="linear"): equal up to diffusers' float32 sigmas (<= 2.1 u, u = 2^-24, measured)
    import diffusers
    import refsde

    cls = getattr(diffusers, name)
    ref = refsde.ScheduleSDE.from_alphas_cumprod(cls().alphas_cumprod, interpolation="sigma")
    s = cls()
    s.set_timesteps(n_steps)
    t = np.array([ds.ref_time(s, tau) for tau in s.timesteps])
    rel = np.abs(np.array(s.sigmas.tolist())[:-1] / np.asarray(ref.edm_sigma(t)) - 1.0)
    assert np.max(rel) <= 3 * 2.0**-24


def test_dpm_solver_alphas_are_the_table_at_integer_timesteps() -> None:
    import diffusers
    import refsde

    s = diffusers.DPMSolverMultistepScheduler()
    s.set_timesteps(25)
    ref = refsde.ScheduleSDE.from_alphas_cumprod(s.alphas_cumprod)
    alpha, _ = s._sigma_to_alpha_sigma_t(s.sigmas[:-1])
    t = np.array([ds.ref_time(s, tau) for tau in s.timesteps])
    assert np.max(np.abs(np.array(alpha.tolist()) / np.asarray(ref.alpha(t)) - 1.0)) <= 4 * 2.0**-24


@pytest.mark.statistical
@pytest.mark.parametrize("name", ["ddim_eta0", "ddim_eta1", "ddpm_fixed_small", "ddpm_fixed_large"])
def test_clip_sample_never_acts_on_the_clip_safe_data(name: str) -> None:
    # the default clip_sample=True runs unchanged; on CLIP_SAFE it never clips at the rows' step counts, so the
    # outputs (and every statistic of the report) equal those of clip_sample=False bit for bit
    case = ds.find_case(name)
    unclipped = dataclasses.replace(case, config={**case.config, "clip_sample": False})
    assert ds.check_call(case)().statistics == ds.check_call(unclipped)().statistics


# the named cause of each planted bug (refsde.testing._causes); None: no slip in the tables models it (the
# diffusers-specific clipping of x0 changes the slipped DDIM path, c_out is the network's preconditioning, not the
# sampler's, and a NaN output has no law to compare)
PLANTED_CAUSES = {
    "ddpm_large_variance_in_small": "option variance = 'fixed_large'",
    "ddpm_variance_as_std": "the noise variance used as its std",
    "ddpm_prev_index": None,
    "ddim_direction_alpha_t": None,
    "ddim_std_without_sqrt": "replaced by its square",
    "dpmpp_2m_sign": "the multistep correction's sign flipped",
    "dpmpp_2m_r_in_timesteps": "computed in t instead of in log-SNR",
    "dpmpp_3m_r1": "3M's second ratio r1 = h_1 / h_0",
    "dpm_2m_half_dropped": "the multistep correction's 1/2 dropped",
    "euler_sigma_next": "with the next grid sigma",
    "heun_no_average": "Heun's correction dropped",
    "heun_stage2_sigma_early": "Heun's second-stage x0",
    "euler_ancestral_up_without_sqrt": None,
    "euler_ancestral_step_to_sigma_to": "not to sigma_down",
    "edm_c_out_without_sqrt": None,
}

