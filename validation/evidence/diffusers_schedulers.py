"""diffusers' discrete-time schedulers judged by :mod:`refsde.testing`: adapters, references, grids, planted bugs.

Pinned: ``diffusers==0.42.1`` (``torch==2.13.0+cpu``).  Every scheduler runs with its **default
configuration** (timestep spacing, steps_offset, final alpha / final sigma, lower_order_final, clip_sample,
float32 sigmas and timesteps); the only non-default is DPM-Solver's ``algorithm_type="dpmsolver"`` row, which
diffusers refuses with its default ``final_sigmas_type="zero"`` and so needs ``"sigma_min"``.  Nothing here
imports diffusers, torch or refsde at module import (so the before/after runner can use the planted bugs
and adapters with an older refsde).

Each :class:`Case` holds what a user states to the check, all derived from the scheduler itself:

* the **adapter** ``sampler_fn(score_fn, x_T, n_steps)``: the diffusers pipeline loop (``set_timesteps``,
  ``scale_model_input``, the model, ``step``), <= 5 lines (:func:`adapter_lines`), with
  ``score_fn.eps`` standing in for an epsilon-prediction network (EDM: :func:`edm_network`, the raw
  network F of Karras et al. 2022 eq. 7, since diffusers' EDMEulerScheduler "epsilon" output is F);
* the **reference**: ``ScheduleSDE.from_alphas_cumprod(scheduler.alphas_cumprod, interpolation=...)``
  (table entry i at t = (i + 1) / N; ``"log_alpha"`` where only table entries are used, ``"sigma"`` for
  Euler / Heun / EulerAncestral, which interpolate sigma~ linearly in the (float) timestep exactly as
  ``interpolation="sigma"`` does in t), or ``ScheduleSDE.edm(sigma_max)``;
* the **grid**: a callable ``n_steps -> times`` built from the scheduler's own ``timesteps`` / ``sigmas``
  after ``set_timesteps(n_steps)`` (:func:`ref_time`: timestep tau is t = (tau + 1) / N), ending at 0
  where the scheduler's last step goes to alpha-bar = 1 / sigma = 0;
* the **method** and options of :mod:`refsde.testing._schemes` the scheduler implements;
* the **data**: DDPM and DDIM clip x0_hat to [-1, 1] by default (``clip_sample=True``), which makes the law
  non-linear; their rows use :data:`CLIP_SAFE` (eigenvalues 0.001, 0.004, 0.01, mean (0.2, -0.1, 0.05)):
  under p_t the posterior mean's coordinates have std <= 0.1 and |mean| <= 0.2, so a clip needs an
  8-sigma excursion (P <= 1.3e-15 per coordinate evaluation, < 4e-7 over a whole 1000-step check), i.e.
  the default configuration runs unchanged and the clip never acts (tests/test_third_party_diffusers.py
  checks that the outputs equal those with ``clip_sample=False`` bit for bit).  The argument needs the
  scheme's state to stay near p_t: it does at the rows' step counts, but not for DDPM ``fixed_large`` at
  <= 5 steps (each step adds beta_t, so x0_hat has variance ~0.76 at 2 steps): there the clip acts and the
  check rejects (z = 65 at 2 steps; it passes with ``clip_sample=False``).  The other schedulers do not
  clip; they use the checks' default data.

**State conventions.**  DDPM, DDIM and DPM-Solver step x itself (``init_noise_sigma = 1``).  Euler, Heun and
EulerAncestral step x~ = x / alpha (the model input is x~ / sqrt(1 + sigma~^2) = x); the adapters start
them at x~ = x_T sqrt(1 + sigma~_0^2), the check's x_T ~ N(0, I) in their coordinates.  diffusers' own
``init_noise_sigma`` for their default "linspace" spacing is sigma~_0 (k-diffusion's N(0, sigma_max^2)
prior), 1/(2 sigma~_0^2) smaller in std: 2e-5 for Euler's default betas, 7.9e-4 for Heun's (sigma~_0 = 25.1);
the rows ``*_init_noise_sigma`` show what the path-exact check says about that (it is a convention of the
pipeline's prior, not of the step).  EDM: alpha = 1, x~ = x, prior N(0, sigma_max^2); diffusers'
EDMEulerScheduler.init_noise_sigma is sqrt(sigma_max^2 + 1).

**Planted bugs** (:data:`PLANTED`): each is diffusers' own method source with exactly one line replaced
(:func:`patched`, which asserts the replaced text occurs once), put on a subclass of the scheduler.

``python -m refsde_validation.evidence.diffusers_schedulers`` prints the tables of the report.
"""

from __future__ import annotations

import inspect
import sys
import textwrap
import time
from dataclasses import dataclass, field
from typing import Any, Callable

VERSIONS = {"diffusers": "0.42.1", "torch": "2.13.0+cpu"}
#: Seed of the adapters' own noise (diffusers' ``generator=``), distinct from the checks' seed.
SEED = 2021
#: The family-wise false-alarm rate of every statistical check here (the checks' default).
ALPHA = 1e-6


def _diffusers() -> Any:
    import diffusers

    return diffusers


def _generator(seed: int) -> Any:
    """A seeded ``torch.Generator`` (refsde's torch RNG) for diffusers' ``generator=`` arguments."""
    from refsde import get_backend

    return get_backend("torch").rng(seed)._gen


def ref_time(scheduler: Any, timestep: Any) -> float:
    """diffusers' timestep tau (an integer index, or a float between entries) as reference time (tau + 1) / N."""
    return (float(timestep) + 1.0) / scheduler.config.num_train_timesteps


def _cls(cls: Any, name: str) -> Any:
    return cls if cls is not None else getattr(_diffusers(), name)


# ---- adapters: the diffusers pipeline loop, <= 5 lines each ----------------------------------------------------------
def ddpm_sampler(cls: Any = None, config: dict | None = None, seed: int = SEED) -> Callable[..., Any]:
    """DDPMScheduler: eps network, ``step(..., generator=g)``; state x, x_T * init_noise_sigma (= 1)."""
    cls, config = _cls(cls, "DDPMScheduler"), dict(config or {})

    def sampler_fn(score_fn: Any, x_T: Any, n_steps: int) -> Any:
        s = cls(**config); s.set_timesteps(n_steps); g = _generator(seed); x = x_T * s.init_noise_sigma  # noqa: E702
        for t in s.timesteps:
            x = s.step(score_fn.eps(s.scale_model_input(x, t), ref_time(s, t)), t, x, generator=g).prev_sample
        return x

    return sampler_fn


def ddim_sampler(cls: Any = None, config: dict | None = None, eta: float = 0.0, seed: int = SEED) -> Callable[..., Any]:
    """DDIMScheduler: eps network, ``step(..., eta=eta, generator=g)`` (the pipeline's eta); state x."""
    cls, config = _cls(cls, "DDIMScheduler"), dict(config or {})

    def sampler_fn(score_fn: Any, x_T: Any, n_steps: int) -> Any:
        s = cls(**config); s.set_timesteps(n_steps); g = _generator(seed); x = x_T * s.init_noise_sigma  # noqa: E702
        for t in s.timesteps:
            x = s.step(score_fn.eps(s.scale_model_input(x, t), ref_time(s, t)), t, x, eta=eta, generator=g).prev_sample
        return x

    return sampler_fn


def dpm_multistep_sampler(cls: Any = None, config: dict | None = None) -> Callable[..., Any]:
    """DPMSolverMultistepScheduler: eps network, deterministic ``step``; state x."""
    cls, config = _cls(cls, "DPMSolverMultistepScheduler"), dict(config or {})

    def sampler_fn(score_fn: Any, x_T: Any, n_steps: int) -> Any:
        s = cls(**config); s.set_timesteps(n_steps); x = x_T * s.init_noise_sigma  # noqa: E702
        for t in s.timesteps:
            x = s.step(score_fn.eps(s.scale_model_input(x, t), ref_time(s, t)), t, x).prev_sample
        return x

    return sampler_fn


def _start(s: Any, init_noise_sigma: bool) -> Any:
    """x~_0 / x_T: 1 / alpha_{t_0} = sqrt(1 + sigma~_0^2) (the check's prior in x~), or diffusers' init_noise_sigma."""
    return s.init_noise_sigma if init_noise_sigma else (1.0 + s.sigmas[0] ** 2) ** 0.5


def euler_sampler(cls: Any = None, config: dict | None = None, init_noise_sigma: bool = False) -> Callable[..., Any]:
    """EulerDiscreteScheduler (and HeunDiscreteScheduler, same loop): eps network; state x~ = x / alpha."""
    cls, config = _cls(cls, "EulerDiscreteScheduler"), dict(config or {})

    def sampler_fn(score_fn: Any, x_T: Any, n_steps: int) -> Any:
        s = cls(**config); s.set_timesteps(n_steps); x = x_T * _start(s, init_noise_sigma)  # noqa: E702
        for t in s.timesteps:
            x = s.step(score_fn.eps(s.scale_model_input(x, t), ref_time(s, t)), t, x).prev_sample
        return x

    return sampler_fn


def heun_sampler(cls: Any = None, config: dict | None = None, init_noise_sigma: bool = False) -> Callable[..., Any]:
    """HeunDiscreteScheduler: the Euler loop over its 2 n - 1 timesteps (stage 2 at the repeated ones)."""
    return euler_sampler(_cls(cls, "HeunDiscreteScheduler"), config, init_noise_sigma)


def euler_ancestral_sampler(cls: Any = None, config: dict | None = None, seed: int = SEED,
                            init_noise_sigma: bool = False) -> Callable[..., Any]:
    """EulerAncestralDiscreteScheduler: eps network, ``step(..., generator=g)``; state x~ = x / alpha."""
    cls, config = _cls(cls, "EulerAncestralDiscreteScheduler"), dict(config or {})

    def sampler_fn(score_fn: Any, x_T: Any, n_steps: int) -> Any:
        s = cls(**config); s.set_timesteps(n_steps); g = _generator(seed); x = x_T * _start(s, init_noise_sigma)  # noqa
        for t in s.timesteps:
            x = s.step(score_fn.eps(s.scale_model_input(x, t), ref_time(s, t)), t, x, generator=g).prev_sample
        return x

    return sampler_fn


def edm_network(score_fn: Any, x_in: Any, sigma: Any, sigma_data: float) -> Any:
    """What an exact EDM network F returns for the preconditioned input x_in = c_in x at noise level sigma:
    D = c_skip x + c_out F (Karras et al. 2022, eq. 7; c_in = 1/sqrt(sigma^2 + sd^2), c_skip = sd^2 / (sigma^2 +
    sd^2), c_out = sigma sd / sqrt(sigma^2 + sd^2)) solved for F, with D the check's exact denoiser.  This is
    the model stand-in (as ``score_fn.eps`` is for the eps schedulers), not part of the adapter."""
    v = sigma**2 + sigma_data**2
    x = x_in * v**0.5
    return (score_fn.denoiser(x, sigma) * v - sigma_data**2 * x) / (sigma * sigma_data * v**0.5)


def _edm_start(s: Any, init_noise_sigma: bool) -> float:
    """x_0 / x_T: 1 (x_T ~ N(0, sigma_max^2) is EDM's prior), or diffusers' init_noise_sigma / sigma_max."""
    return s.init_noise_sigma / s.config.sigma_max if init_noise_sigma else 1.0


def edm_euler_sampler(cls: Any = None, config: dict | None = None,
                      init_noise_sigma: bool = False) -> Callable[..., Any]:
    """EDMEulerScheduler: network F (:func:`edm_network`) at the scheduler's sigma; state x (alpha = 1)."""
    cls, config = _cls(cls, "EDMEulerScheduler"), dict(config or {})

    def sampler_fn(score_fn: Any, x_T: Any, n_steps: int) -> Any:
        s = cls(**config); s.set_timesteps(n_steps); x = x_T * _edm_start(s, init_noise_sigma)  # noqa: E702
        for t in s.timesteps:
            x_in = s.scale_model_input(x, t)
            x = s.step(edm_network(score_fn, x_in, s.sigmas[s.step_index], s.config.sigma_data), t, x).prev_sample
        return x

    return sampler_fn


def adapter_lines(sampler_fn: Callable[..., Any]) -> int:
    """Lines of an adapter's body (the ``sampler_fn`` after its ``def`` line; blank lines and comments excluded).
    The set-up line holds several statements (``;``): :func:`adapter_statements` counts those."""
    lines = textwrap.dedent(inspect.getsource(sampler_fn)).splitlines()[1:]
    return sum(1 for ln in lines if ln.strip() and not ln.strip().startswith("#"))


def adapter_statements(sampler_fn: Callable[..., Any]) -> int:
    """Statements of an adapter's body (the ``for`` loop and each statement in it count one each)."""
    import ast

    tree = ast.parse(textwrap.dedent(inspect.getsource(sampler_fn)))
    return sum(isinstance(node, ast.stmt) for node in ast.walk(tree)) - 1  # less the def itself


# ---- grids: the scheduler's own times, in the reference's time -------------------------------------------------------
def timestep_grid(cls: Any, config: dict | None = None, end: str = "zero",
                  every: int = 1) -> Callable[[int], list[float]]:
    """n_steps -> [ref_time(tau) for tau in timesteps[::every]] + the end: ``"zero"`` (the last step goes to
    alpha-bar = 1 / sigma = 0: DDPM's and DDIM's alpha-bar_prev = 1, the final sigma 0) or ``"entry0"`` (to
    table entry 0, t = 1 / N: DPM-Solver's final_sigmas_type="sigma_min").  ``every=2``: Heun's timesteps
    t_0, t_1, t_1, t_2, ... (stage 2 at the repeated ones)."""
    config = dict(config or {})

    def grid(n_steps: int) -> list[float]:
        s = cls(**config)
        s.set_timesteps(n_steps)
        times = [ref_time(s, t) for t in s.timesteps[::every]]
        return times + [0.0 if end == "zero" else 1.0 / s.config.num_train_timesteps]

    return grid


def sigma_grid(cls: Any, ref: Any, config: dict | None = None) -> Callable[[int], list[float]]:
    """n_steps -> the scheduler's ``sigmas`` (its float32 noise levels, the last 0) as reference times
    (``ref.t_from_sigma``; the identity for EDM)."""
    config = dict(config or {})

    def grid(n_steps: int) -> list[float]:
        import numpy as np

        s = cls(**config)
        s.set_timesteps(n_steps)
        return [float(t) for t in np.asarray(ref.t_from_sigma(np.asarray(s.sigmas.tolist(), dtype=np.float64)))]

    return grid


# ---- the rows --------------------------------------------------------------------------------------------------------
def clip_safe_case() -> Any:
    """The data of the DDPM / DDIM rows (module docstring): eigenvalues 0.001, 0.004, 0.01, mean (0.2, -0.1, 0.05)."""
    from refsde.testing._cases import gaussian_case

    return gaussian_case((3,), eigenvalues=(0.001, 0.004, 0.01), mean=(0.2, -0.1, 0.05))


@dataclass(frozen=True)
class Case:
    """One scheduler configuration and what the check is told about it."""

    name: str
    scheduler: str  # diffusers class name
    config: dict  # constructor arguments (defaults: {})
    kind: str  # "sde" (check_sde_sampler) or "ode" (check_ode_sampler)
    method: str
    options: dict
    n_steps: int
    adapter: Callable[..., Callable[..., Any]]  # adapter(cls, config, seed) -> sampler_fn (seed: its own noise)
    grid: Callable[[Any, dict, Any], Callable[[int], list[float]]]  # grid(cls, config, ref)
    interpolation: str | None  # the table reference's interpolation; None: EDM's sigma space
    clip_safe: bool = False  # CLIP_SAFE data (DDPM, DDIM)
    note: str = ""
    expect: str = "pass"  # "pass", or the property a convention row is expected to fail

    def cls(self) -> Any:
        return getattr(_diffusers(), self.scheduler)


def _steps(end: str = "zero", every: int = 1) -> Callable[[Any, dict, Any], Callable[[int], list[float]]]:
    return lambda cls, config, ref: timestep_grid(cls, config, end, every)


def _sigmas(cls: Any, config: dict, ref: Any) -> Callable[[int], list[float]]:
    return sigma_grid(cls, ref, config)


CASES: list[Case] = [
    Case("ddpm_fixed_small", "DDPMScheduler", {}, "sde", "ddpm", {"variance": "fixed_small"}, 1000,
         lambda c, k, r: ddpm_sampler(c, k, r), _steps(), "log_alpha", True, "leading spacing, 1000 steps"),
    Case("ddpm_fixed_large", "DDPMScheduler", {"variance_type": "fixed_large"}, "sde", "ddpm",
         {"variance": "fixed_large"}, 1000, lambda c, k, r: ddpm_sampler(c, k, r), _steps(), "log_alpha", True),
    Case("ddim_eta0", "DDIMScheduler", {}, "ode", "ddim", {}, 50, lambda c, k, r: ddim_sampler(c, k, 0.0, r),
         _steps(), "log_alpha", True, "leading spacing (980, 960, .., 0), set_alpha_to_one"),
    Case("ddim_eta1", "DDIMScheduler", {}, "sde", "ddim", {"eta": 1.0}, 50, lambda c, k, r: ddim_sampler(c, k, 1.0, r),
         _steps(), "log_alpha", True),
    Case("dpmpp_2m", "DPMSolverMultistepScheduler", {}, "ode", "dpm_solver_pp_2m", {"lower_order_final": True}, 25,
         lambda c, k, r: dpm_multistep_sampler(c, k), _steps(), "log_alpha", note="linspace spacing, final sigma 0"),
    Case("dpmpp_3m", "DPMSolverMultistepScheduler", {"solver_order": 3}, "ode", "dpm_solver_pp_3m",
         {"variant": "dpm_solver", "lower_order_final": True}, 25, lambda c, k, r: dpm_multistep_sampler(c, k),
         _steps(), "log_alpha", note="the published 3M update (second order)"),
    Case("dpm_2m_noise", "DPMSolverMultistepScheduler",
         {"algorithm_type": "dpmsolver", "final_sigmas_type": "sigma_min"}, "ode", "dpm_solver_2m",
         {"lower_order_final": True}, 25, lambda c, k, r: dpm_multistep_sampler(c, k),
         _steps("entry0"), "log_alpha", note="final_sigmas_type='zero' is refused for dpmsolver"),
    Case("euler", "EulerDiscreteScheduler", {}, "ode", "edm_euler", {}, 25, lambda c, k, r: euler_sampler(c, k),
         _steps(), "sigma", note="linspace spacing (float timesteps), sigma~ linear in tau"),
    Case("heun", "HeunDiscreteScheduler", {}, "ode", "edm_heun", {}, 25, lambda c, k, r: heun_sampler(c, k),
         _steps(every=2), "sigma", note="49 model calls; last step Euler to 0"),
    Case("euler_ancestral", "EulerAncestralDiscreteScheduler", {}, "sde", "euler_ancestral", {}, 25,
         lambda c, k, r: euler_ancestral_sampler(c, k, r), _steps(), "sigma"),
    Case("edm_euler", "EDMEulerScheduler", {}, "ode", "edm_euler", {}, 25, lambda c, k, r: edm_euler_sampler(c, k),
         _sigmas, None, note="Karras rho = 7 sigmas, F-network preconditioning"),
]

#: Convention rows: a correct scheduler with a convention stated differently (expected verdicts in ``expect``).
CONVENTION_CASES: list[Case] = [
    Case("heun_init_noise_sigma", "HeunDiscreteScheduler", {}, "ode", "edm_heun", {}, 25,
         lambda c, k, r: heun_sampler(c, k, init_noise_sigma=True), _steps(every=2), "sigma",
         note="x~_0 = sigma~_0 x_T (diffusers' prior), 7.9e-4 below x_T / alpha", expect="edm_heun path x"),
    Case("euler_init_noise_sigma", "EulerDiscreteScheduler", {}, "ode", "edm_euler", {}, 25,
         lambda c, k, r: euler_sampler(c, k, init_noise_sigma=True), _steps(), "sigma",
         note="x~_0 = sigma~_0 x_T, 2e-5 below x_T / alpha"),
    Case("edm_euler_init_noise_sigma", "EDMEulerScheduler", {}, "ode", "edm_euler", {}, 25,
         lambda c, k, r: edm_euler_sampler(c, k, init_noise_sigma=True), _sigmas, None,
         note="x_0 = sqrt(sigma_max^2 + 1) / sigma_max x_T (7.8e-5 above EDM's prior)", expect="edm_euler path x"),
    Case("dpmpp_3m_as_taylor", "DPMSolverMultistepScheduler", {"solver_order": 3}, "ode", "dpm_solver_pp_3m",
         {"lower_order_final": True}, 25, lambda c, k, r: dpm_multistep_sampler(c, k), _steps(), "log_alpha",
         note="judged as the third-order (Taylor) 3M", expect="dpm_solver_pp(lower_order_final=True, order=3) path x"),
    Case("euler_log_alpha_reference", "EulerDiscreteScheduler", {}, "ode", "edm_euler", {}, 25,
         lambda c, k, r: euler_sampler(c, k), _steps(), "log_alpha",
         note="reference interpolating log alpha, not sigma~ (1.1e-4 off between entries)"),
]


def reference(case: Case, cls: Any = None) -> Any:
    """The refsde reference of ``case`` (the scheduler's own table, or EDM's sigma space at its sigma_max)."""
    import refsde

    s = (cls or case.cls())(**case.config)
    if case.interpolation is None:
        return refsde.ScheduleSDE.edm(float(s.config.sigma_max))
    return refsde.ScheduleSDE.from_alphas_cumprod(s.alphas_cumprod, interpolation=case.interpolation)


def check_call(case: Case, cls: Any = None, *, seed: int = 0, alpha: float = ALPHA,
               adapter_seed: int = SEED) -> Callable[[], Any]:
    """The call a user makes: the check of ``case.kind`` with the case's method, options, grid, step count and
    data, on the scheduler class ``cls`` (default: diffusers' own; a planted subclass for the bugs)."""
    from refsde.testing import check_ode_sampler, check_sde_sampler

    cls = cls or case.cls()
    ref = reference(case, cls)
    sampler = case.adapter(cls, case.config, adapter_seed)
    kw: dict[str, Any] = dict(method=case.method, options=case.options, grid=case.grid(cls, case.config, ref),
                              backend="torch", dtype="float32", seed=seed, alpha=alpha)
    if case.clip_safe:
        kw["data"] = clip_safe_case()
    check = check_sde_sampler if case.kind == "sde" else check_ode_sampler
    return lambda: check(sampler, ref, case.n_steps, **kw)


# ---- planted bugs ----------------------------------------------------------------------------------------------------
def patched(base: Any, method: str, old: str, new: str) -> Any:
    """A subclass of ``base`` whose ``method`` is diffusers' own source with the text ``old`` (which must occur
    exactly once) replaced by ``new``, compiled in the method's own module namespace."""
    fn = getattr(base, method)
    src = textwrap.dedent(inspect.getsource(fn))
    count = src.count(old)
    if count != 1:
        raise RuntimeError(f"{base.__name__}.{method}: the planted text occurs {count} times, not once: {old!r}")
    namespace = dict(vars(sys.modules[fn.__module__]))
    exec(compile(src.replace(old, new), f"<planted {base.__name__}.{method}>", "exec"), namespace)  # noqa: S102
    return type(f"Planted{base.__name__}", (base,), {method: namespace[method], "__module__": __name__})


@dataclass(frozen=True)
class Bug:
    """One planted bug: ``case`` run with ``scheduler.method`` patched (``old`` -> ``new``)."""

    name: str
    case: str  # the Case whose check a user would call
    method: str
    old: str
    new: str
    description: str
    expect: str  # the property the check reports failing

    def scheduler_class(self) -> Any:
        return patched(find_case(self.case).cls(), self.method, self.old, self.new)


PLANTED: list[Bug] = [
    Bug("ddpm_large_variance_in_small", "ddpm_fixed_small", "_get_variance",
        'if variance_type == "fixed_small":\n        variance = variance',
        'if variance_type == "fixed_small":\n        variance = current_beta_t',
        "fixed_small scheduler adds fixed_large's variance beta_t", "output variance"),
    Bug("ddpm_variance_as_std", "ddpm_fixed_small", "step",
        "variance = (self._get_variance(t, predicted_variance=predicted_variance) ** 0.5) * variance_noise",
        "variance = self._get_variance(t, predicted_variance=predicted_variance) * variance_noise",
        "noise std = the variance (square root dropped)", "output variance"),
    Bug("ddpm_prev_index", "ddpm_fixed_small", "step", "prev_t = self.previous_timestep(t)",
        "prev_t = self.previous_timestep(t) - 1", "alpha-bar_prev one table entry early (tau - 2)", "output variance"),
    Bug("ddim_direction_alpha_t", "ddim_eta0", "step",
        "pred_sample_direction = (1 - alpha_prod_t_prev - std_dev_t**2)",
        "pred_sample_direction = (1 - alpha_prod_t - std_dev_t**2)",
        "direction coefficient sqrt(1 - abar_t) instead of sqrt(1 - abar_prev)", "ddim path x"),
    Bug("ddim_std_without_sqrt", "ddim_eta1", "step", "std_dev_t = eta * variance ** (0.5)",
        "std_dev_t = eta * variance", "eta > 0 noise std = eta * variance (square root dropped)", "output variance"),
    Bug("dpmpp_2m_sign", "dpmpp_2m", "multistep_dpm_solver_second_order_update",
        "- 0.5 * (alpha_t * (torch.exp(-h) - 1.0)) * D1", "+ 0.5 * (alpha_t * (torch.exp(-h) - 1.0)) * D1",
        "DPM-Solver++(2M): second-order term with the wrong sign",
        "dpm_solver_pp(lower_order_final=True, order=2) path x"),
    Bug("dpmpp_2m_r_in_timesteps", "dpmpp_2m", "multistep_dpm_solver_second_order_update", "r0 = h_0 / h",
        "r0 = (self.timesteps[self.step_index - 1] - self.timesteps[self.step_index])"
        " / (self.timesteps[self.step_index] - self.timesteps[self.step_index + 1])",
        "DPM-Solver++(2M): step ratio r from the timesteps instead of lambda",
        "dpm_solver_pp(lower_order_final=True, order=2) path x"),
    Bug("dpmpp_3m_r1", "dpmpp_3m", "multistep_dpm_solver_third_order_update", "r0, r1 = h_0 / h, h_1 / h",
        "r0, r1 = h_0 / h, h_1 / h_0", "DPM-Solver++(3M): r1 = h_1 / h_0 instead of h_1 / h",
        "dpm_solver_pp(lower_order_final=True, order=3, variant='dpm_solver') path x"),
    Bug("dpm_2m_half_dropped", "dpm_2m_noise", "multistep_dpm_solver_second_order_update",
        "- 0.5 * (sigma_t * (torch.exp(h) - 1.0)) * D1", "- (sigma_t * (torch.exp(h) - 1.0)) * D1",
        "DPM-Solver(2M, noise): the midpoint's 1/2 dropped", "dpm_solver_2m(lower_order_final=True) path x"),
    Bug("euler_sigma_next", "euler", "step", "pred_original_sample = sample - sigma_hat * model_output",
        "pred_original_sample = sample - self.sigmas[self.step_index + 1] * model_output",
        "x0 from the next sigma (index off by one)", "edm_euler path x"),
    Bug("heun_no_average", "heun", "step", "derivative = (self.prev_derivative + derivative) / 2",
        "derivative = self.prev_derivative", "Heun: stage 2 uses d instead of (d + d') / 2", "edm_heun path x"),
    Bug("heun_stage2_sigma_early", "heun", "step", "pred_original_sample = sample - sigma_input * model_output",
        "pred_original_sample = sample - sigma_hat * model_output",
        "Heun: stage 2's x0 at sigma_k (one index early) instead of sigma_{k+1}", "edm_heun path x"),
    Bug("euler_ancestral_up_without_sqrt", "euler_ancestral", "step",
        "sigma_up = (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5",
        "sigma_up = sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2",
        "EulerAncestral: sigma_up without the square root (sigma_down = sqrt(< 0) = NaN)",
        "sampler output values"),
    Bug("euler_ancestral_step_to_sigma_to", "euler_ancestral", "step", "dt = sigma_down - sigma",
        "dt = sigma_to - sigma",
        "EulerAncestral: deterministic part steps to sigma_to, not sigma_down", "output variance"),
    Bug("edm_c_out_without_sqrt", "edm_euler", "precondition_outputs",
        "c_out = sigma * sigma_data / (sigma**2 + sigma_data**2) ** 0.5",
        "c_out = sigma * sigma_data / (sigma**2 + sigma_data**2)", "EDM: c_out without the square root",
        "edm_euler path x"),
]


def find_case(name: str) -> Case:
    for case in CASES + CONVENTION_CASES:
        if case.name == name:
            return case
    raise KeyError(name)


def find_bug(name: str) -> Bug:
    for bug in PLANTED:
        if bug.name == name:
            return bug
    raise KeyError(name)


# ---- running and tabulating ------------------------------------------------------------------------------------------
@dataclass
class Verdict:
    name: str
    verdict: str  # "pass" or "fail"
    prop: str = ""
    statistic: float = float("nan")
    threshold: float = float("nan")
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)
    message: str = ""


def run(call: Callable[[], Any], name: str) -> Verdict:
    from refsde.testing import ConformanceError

    t0 = time.perf_counter()
    try:
        report = call()
    except ConformanceError as e:
        return Verdict(name, "fail", e.property, float(e.statistic if e.statistic is not None else float("nan")),
                       float(e.threshold if e.threshold is not None else float("nan")), time.perf_counter() - t0,
                       message=str(e))
    return Verdict(name, "pass", seconds=time.perf_counter() - t0, stats=dict(report.statistics))


def run_case(case: Case, **kw: Any) -> Verdict:
    return run(check_call(case, **kw), case.name)


def run_bug(bug: Bug, **kw: Any) -> Verdict:
    return run(check_call(find_case(bug.case), bug.scheduler_class(), **kw), bug.name)


def _main_stat(v: Verdict) -> str:
    if v.verdict == "fail":
        return f"{v.statistic:.3g} > {v.threshold:.3g}"
    keys = [k for k in v.stats if "/ tolerance" in k or "z at the band" in k or "mean - expected" in k]
    return ", ".join(f"{v.stats[k]:.3g}" for k in keys)


def main() -> None:
    """Print the Markdown tables (``python -m refsde_validation.evidence.diffusers_schedulers``)."""
    print("| row | scheduler (config) | adapter lines (statements) | check / method (options) | n_steps | verdict | "
          "statistic | s |")
    print("|---|---|---|---|---|---|---|---|")
    for case in CASES + CONVENTION_CASES:
        v = run_case(case)
        fn = case.adapter(case.cls(), case.config, SEED)
        lines = f"{adapter_lines(fn)} ({adapter_statements(fn)})"
        opts = ", ".join(f"{k}={val!r}" for k, val in case.options.items())
        verdict = v.verdict if v.verdict == "pass" else f"fail: {v.prop}"
        print(f"| {case.name} | {case.scheduler} {case.config or ''} | {lines} | check_{case.kind}_sampler / "
              f"{case.method} ({opts}) | {case.n_steps} | {verdict} | {_main_stat(v)} | {v.seconds:.1f} |")
    print()
    print("| planted bug | row | description | verdict | property | statistic | s |")
    print("|---|---|---|---|---|---|---|")
    for bug in PLANTED:
        v = run_bug(bug)
        verdict = "caught" if v.verdict == "fail" else "MISSED"
        print(f"| {bug.name} | {bug.case} | {bug.description} | {verdict} | {v.prop} | {_main_stat(v)} | "
              f"{v.seconds:.1f} |")


if __name__ == "__main__":
    main()
