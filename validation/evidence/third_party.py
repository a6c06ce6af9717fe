"""Real third-party diffusion code as :mod:`refsde.testing` candidates, and a statistical marginal check.

Pinned versions used for the results in validation/REPORT.md: ``diffusers==0.42.1``,
``torchsde==0.2.6`` (with ``torch==2.13.0+cpu``).  Neither package is imported at module import; every
adapter imports its library on first call, so this module imports without them.  The libraries are
torch-only; the adapters take and return torch tensors (run the checks with ``backend="torch"``) and
get torch objects through refsde's torch backend, never by ``import torch`` here.

Adapters (``score_fn(x, t)`` is the check's exact score, standing in for a trained network):

* diffusers ``ScoreSdeVpScheduler`` (``diffusers.schedulers.deprecated``): its beta(t) and marginal std,
  probed from ``step_pred`` (:func:`diffusers_vp_sde_fn`, :func:`diffusers_vp_marginal_fn`), and
  ``step_pred`` looped as a reverse-SDE sampler (:func:`diffusers_vp_sampler`).  Its model output is the
  noise prediction eps = -sigma_t s (``step_pred`` turns it back into a score with its own std).
* diffusers ``ScoreSdeVeScheduler``: its continuous sigma(t) (``set_sigmas``) as a VE marginal
  (:func:`diffusers_ve_marginal_fn`), the ScoreSdeVePipeline loop of ``step_correct`` / ``step_pred``
  as a sampler (:func:`diffusers_ve_sampler`), ``step_correct`` as a corrector
  (:func:`diffusers_ve_corrector`).  Its model output is the score.
* torchsde ``sdeint`` on refsde's forward SDE (:func:`torchsde_forward_simulator`), checked by
  :func:`check_simulated_marginal`; and on the reverse-time SDE as a sampler (:func:`torchsde_reverse_sampler`).

:func:`check_simulated_marginal` is the statistical counterpart of ``check_marginal`` for simulators: see
its docstring for the test, the false-alarm rate and the sample size.

Findings with these versions (details, library lines and check messages: validation/REPORT.md):
diffusers' VP ``step_pred`` is NaN at t = 0 (it divides the model output by std(0) = 0) and, in float32, for
t below ~3e-7; its std ``sqrt(1 - exp(...))`` cancels at small t (1.7e-9 relative in float64).
:func:`reference_at_t0` lets the check judge the rest of the grid.  The VE pipeline queries the model at
``linspace(1, eps, n)`` (score_sde's grid), not at refsde's ``reverse_diffusion`` grid: see ``score_time``
of :func:`diffusers_ve_sampler`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from refsde import get_backend
from refsde.testing import ConformanceError
from refsde.testing.report import CheckReport
from refsde.testing._stats import detectable_std_error, moment_tests, sample_size, z_two_sided

Array = Any
ScoreFn = Callable[[Array, Array], Array]

VERSIONS = {"diffusers": "0.42.1", "torchsde": "0.2.6"}
#: Default seed of the adapters' own noise (distinct from the checks' default seed 0).
SEED = 2021


def _torch() -> Any:
    """refsde's torch backend (imports torch through refsde.backends)."""
    return get_backend("torch")


def _generator(seed: int) -> Any:
    """A seeded ``torch.Generator`` for diffusers' ``generator=`` arguments (from refsde's torch RNG)."""
    return _torch().rng(seed)._gen


def _tvec(x: Array, t: Any) -> Array:
    xp = _torch().xp
    return xp.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)


def reference_at_t0(pair_fn: Callable[[Array, Array], tuple[Array, Array]],
                    ref_pair_fn: Callable[[Array, Array], tuple[Array, Array]]) -> Callable[[Array, Array], tuple[Array, Array]]:
    """``pair_fn(x, t)`` with its rows at t = 0 replaced by ``ref_pair_fn``'s (both return a pair: (drift,
    diffusion) or (mean, std)).  For diffusers' VP probes, which are NaN at t = 0 (``step_pred`` divides the
    model output by std(0) = 0): the check then judges the library on the rest of its grid."""

    def fn(x: Array, t: Array) -> tuple[Array, Array]:
        xp = _torch().xp
        at0 = t == 0
        out = []
        for a, r in zip(pair_fn(x, t), ref_pair_fn(x, t)):
            r = xp.asarray(r, dtype=a.dtype, device=a.device)
            same = math.prod(r.shape) == math.prod(a.shape)
            r = xp.reshape(r, a.shape) if same else xp.broadcast_to(r, a.shape)
            mask = xp.reshape(at0, (-1,) + (1,) * (a.ndim - 1)) if a.ndim else at0
            out.append(xp.where(mask, r, a))
        return out[0], out[1]

    return fn


# ---- diffusers: ScoreSdeVpScheduler --------------------------------------------------------------------------
def diffusers_vp_scheduler(beta_min: float = 0.1, beta_max: float = 20.0, sampling_eps: float = 1e-3) -> Any:
    from diffusers.schedulers.deprecated.scheduling_sde_vp import ScoreSdeVpScheduler

    return ScoreSdeVpScheduler(beta_min=beta_min, beta_max=beta_max, sampling_eps=sampling_eps)


def _vp_probe(scheduler: Any, t: Array, x: Array, model_output: Array) -> Array:
    """``step_pred``'s x_mean with one timestep (dt = -1) for the given x and model output."""
    scheduler.set_timesteps(1)
    _, x_mean = scheduler.step_pred(model_output, x, t)
    return x_mean


def diffusers_vp_beta(scheduler: Any, t: Array) -> Array:
    """beta(t) as ``step_pred`` uses it: with dt = -1, x = 1 and model output 0, x_mean = 1 + beta/2."""
    xp = _torch().xp
    one = xp.ones((t.shape[0], 1), dtype=t.dtype)
    return 2.0 * (_vp_probe(scheduler, t, one, xp.zeros_like(one))[:, 0] - 1.0)


def diffusers_vp_std(scheduler: Any, t: Array) -> Array:
    """The marginal std ``step_pred`` uses: with x = 0 and model output 1 the score is -1/std, the drift
    beta/std and, with dt = -1, x_mean = -beta/std; so std = -beta / x_mean."""
    xp = _torch().xp
    one = xp.ones((t.shape[0], 1), dtype=t.dtype)
    return -diffusers_vp_beta(scheduler, t) / _vp_probe(scheduler, t, xp.zeros_like(one), one)[:, 0]


def diffusers_vp_sde_fn(scheduler: Any) -> Callable[[Array, Array], tuple[Array, Array]]:
    """sde_fn(x, t) = (-beta(t) x / 2, sqrt(beta(t))) with beta probed from ``step_pred`` (its drift and g^2)."""

    def sde_fn(x: Array, t: Array) -> tuple[Array, Array]:
        xp = _torch().xp
        beta = diffusers_vp_beta(scheduler, t)
        return -0.5 * beta[:, None] * x, xp.sqrt(beta)

    return sde_fn


def diffusers_vp_marginal_fn(scheduler: Any, ref: Any) -> Callable[[Array, Array], tuple[Array, Array]]:
    """marginal_fn(x0, t): std probed from ``step_pred``; the scheduler computes no mean, so the mean is
    refsde's (``ref.marginal``) and only the std half of check_marginal tests diffusers."""

    def marginal_fn(x0: Array, t: Array) -> tuple[Array, Array]:
        return ref.marginal(x0, t)[0], diffusers_vp_std(scheduler, t)

    return marginal_fn


def diffusers_vp_sampler(scheduler: Any, ref: Any, seed: int = SEED, return_mean: bool = False) -> Callable[[ScoreFn, Array, int], Array]:
    """sampler_fn(score_fn, x_T, n_steps): ``set_timesteps(n_steps)`` and, for t in ``timesteps``
    (linspace(1, sampling_eps, n_steps)), ``x, x_mean = step_pred(-sigma_t s(x, t), x, t)``.  Returns x
    (``return_mean``: the last x_mean, score_sde's noise removal)."""

    def sampler_fn(score_fn: ScoreFn, x_T: Array, n_steps: int) -> Array:
        gen = _generator(seed)
        scheduler.set_timesteps(n_steps)
        x, x_mean = x_T, x_T
        for t in scheduler.timesteps:
            tv = _tvec(x, float(t))
            sigma = ref.marginal_coefficients(tv)[1]
            eps_pred = -sigma[:, None] * score_fn(x, tv)  # epsilon-parameterized model output
            x, x_mean = scheduler.step_pred(eps_pred, x, tv, generator=gen)
        return x_mean if return_mean else x

    return sampler_fn


# ---- diffusers: ScoreSdeVeScheduler --------------------------------------------------------------------------
def diffusers_ve_scheduler(sigma_min: float = 0.01, sigma_max: float = 50.0, snr: float = 0.16, sampling_eps: float = 1e-5,
                           correct_steps: int = 1) -> Any:
    from diffusers import ScoreSdeVeScheduler

    return ScoreSdeVeScheduler(sigma_min=sigma_min, sigma_max=sigma_max, snr=snr, sampling_eps=sampling_eps,
                               correct_steps=correct_steps)


def diffusers_ve_marginal_fn(scheduler: Any) -> Callable[[Array, Array], tuple[Array, Array]]:
    """marginal_fn(x0, t) = (x0, sigma(t)) with sigma(t) = ``set_sigmas``' sigma_min (sigma_max/sigma_min)^t
    at timesteps t (score_sde's VE convention).  ``set_sigmas`` evaluates it at ``scheduler.timesteps``,
    which are set to the check's t."""

    def marginal_fn(x0: Array, t: Array) -> tuple[Array, Array]:
        scheduler.timesteps = t
        scheduler.set_sigmas(t.shape[0])
        return x0, scheduler.sigmas

    return marginal_fn


def diffusers_ve_sampler(scheduler: Any, seed: int = SEED, correct_steps: int = 0,
                         score_time: str = "scheduler") -> Callable[[ScoreFn, Array, int], Array]:
    """sampler_fn(score_fn, x_T, n_steps): the ScoreSdeVePipeline loop.  ``set_timesteps(n)``,
    ``set_sigmas(n)``; for each t: ``correct_steps`` x ``step_correct(s(x, t), x)``, then
    ``step_pred(s(x, t), t, x)`` (reverse diffusion on the SMLD chain of ``discrete_sigmas``).  Returns
    ``prev_sample`` (the pipeline returns ``prev_sample_mean`` clamped to [0, 1], for images).

    ``score_time`` is the time at which the model (the check's exact score) is queried at step k; the
    scheduler's own step is unchanged.  ``"scheduler"``: its timestep t_k = linspace(1, eps, n)[k] (the
    pipeline's; sigma(t_k) is the chain level's sigma, as in score_sde); ``"refsde"``: refsde's grid
    t_k = 1 - k (1 - eps) / n, the convention of ``check_sde_sampler(method="reverse_diffusion")``."""
    if score_time not in ("scheduler", "refsde"):
        raise ValueError(f"score_time must be 'scheduler' or 'refsde', got {score_time!r}")

    def sampler_fn(score_fn: ScoreFn, x_T: Array, n_steps: int) -> Array:
        gen = _generator(seed)
        scheduler.timesteps = None
        scheduler.set_timesteps(n_steps)
        scheduler.set_sigmas(n_steps)
        eps = float(scheduler.config.sampling_eps)
        x = x_T
        for k, t in enumerate(scheduler.timesteps):
            tv = _tvec(x, float(t) if score_time == "scheduler" else 1.0 - k * (1.0 - eps) / n_steps)
            for _ in range(correct_steps):
                x = scheduler.step_correct(score_fn(x, tv), x, generator=gen).prev_sample
            x = scheduler.step_pred(score_fn(x, tv), t, x, generator=gen).prev_sample
        return x

    return sampler_fn


def diffusers_ve_corrector(scheduler: Any, seed: int = SEED) -> Callable[[ScoreFn, Array, Any], Array]:
    """corrector_fn(score_fn, x, t) = ``step_correct(s(x, t), x).prev_sample`` (e = 2 (snr |z| / |s|)^2)."""
    state: dict[str, Any] = {}

    def corrector_fn(score_fn: ScoreFn, x: Array, t: Any) -> Array:
        if "gen" not in state:
            state["gen"] = _generator(seed)
        if scheduler.timesteps is None:
            scheduler.set_timesteps(1)
        return scheduler.step_correct(score_fn(x, _tvec(x, float(t))), x, generator=state["gen"]).prev_sample

    return corrector_fn


# ---- torchsde ------------------------------------------------------------------------------------------------
class _TorchsdeSDE:
    """refsde's SDE in torchsde's interface (Ito, diagonal noise): f(t, y), g(t, y) on torch tensors.
    ``reverse=True``: the reverse-time SDE in s = T - t, dy = [g^2 s(y, t) - f(y, t)] ds + g dW_s."""

    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, ref: Any, score_fn: ScoreFn | None = None) -> None:
        self.ref, self.score_fn = ref, score_fn

    def _time(self, s: Array) -> Array:
        return s if self.score_fn is None else float(self.ref.T) - s

    def f(self, s: Array, y: Array) -> Array:
        t = self._time(s)
        f = self.ref.drift(y, t)
        if self.score_fn is None:
            return f
        return self.ref.diffusion_squared(t) * self.score_fn(y, _tvec(y, float(t))) - f  # reverse drift, Song eq. 6

    def g(self, s: Array, y: Array) -> Array:
        return self.ref.diffusion(self._time(s)) * _torch().xp.ones_like(y)


def _brownian(torchsde: Any, t0: float, t1: float, like: Array, seed: int, method: str) -> Any:
    """torchsde's Brownian motion, seeded; with the space-time Levy area that its SRK method needs."""
    levy = "space-time" if method == "srk" else "none"
    return torchsde.BrownianInterval(t0=t0, t1=t1, size=tuple(like.shape), dtype=like.dtype, device=like.device,
                                     entropy=seed, levy_area_approximation=levy)


def torchsde_forward_simulator(ref: Any, method: str = "euler", dt: float = 2.0**-10, seed: int = SEED) -> Callable[[Array, Array], Array]:
    """simulate_fn(x0, ts) -> (len(ts), n, d): ``torchsde.sdeint`` of ``ref``'s forward SDE from x0 at
    t = 0, fixed step ``dt`` (a power of 2, so that torchsde's accumulated times hit the output times
    exactly and no output is interpolated)."""

    def simulate_fn(x0: Array, ts: Array) -> Array:
        import torchsde

        bm = _brownian(torchsde, float(ts[0]), float(ts[-1]), x0, seed, method)
        return torchsde.sdeint(_TorchsdeSDE(ref), x0, ts, bm=bm, method=method, dt=dt)

    return simulate_fn


def torchsde_reverse_sampler(ref: Any, method: str = "euler", eps: float = 1e-3, seed: int = SEED) -> Callable[[ScoreFn, Array, int], Array]:
    """sampler_fn(score_fn, x_T, n_steps): ``torchsde.sdeint`` of the reverse-time SDE from t = T to eps
    (s = T - t from 0 to T - eps) with dt = (T - eps) / n_steps."""

    def sampler_fn(score_fn: ScoreFn, x_T: Array, n_steps: int) -> Array:
        import torchsde

        xp = _torch().xp
        span = float(ref.T) - eps
        ss = xp.asarray([0.0, span], dtype=x_T.dtype, device=x_T.device)
        bm = _brownian(torchsde, 0.0, span, x_T, seed, method)
        return torchsde.sdeint(_TorchsdeSDE(ref, score_fn), x_T, ss, bm=bm, method=method, dt=span / n_steps)[-1]

    return sampler_fn


# ---- the statistical marginal check ----------------------------------------------------------------------------
def em_law(ref: Any, t: float, dt: float) -> tuple[float, float]:
    """(a, v): the exact law of K = t/dt Euler-Maruyama steps of ref's linear SDE from x0, x_K ~ N(a x0, v I):
    a_{k+1} = (1 + f_k dt) a_k, v_{k+1} = (1 + f_k dt)^2 v_k + g_k^2 dt, f_k, g_k^2 at t_k = k dt (host float64)."""
    K = int(round(t / dt))
    if abs(K * dt - t) > 1e-12 * max(1.0, t):
        raise ValueError(f"t = {t} is not a multiple of dt = {dt}")
    a, v = 1.0, 0.0
    for k in range(K):
        tk = np.float64(k * dt)
        f = float(np.asarray(ref.drift_coefficient(tk)))
        g2 = float(np.asarray(ref.diffusion_squared(tk)))
        a, v = (1.0 + f * dt) * a, (1.0 + f * dt) ** 2 * v + g2 * dt
    return a, v


def check_simulated_marginal(
    simulate_fn: Callable[[Array, Array], Array],
    ref: Any,
    *,
    dt: float,
    times: Sequence[float] = (2.0**-7, 2.0**-4, 0.5, 1.0),
    x0: Sequence[float] = (1.5, -0.5, 0.0),
    scheme: str | None = None,
    alpha: float = 1e-6,
    power: float = 0.99,
    rel_std_error: float = 0.03,
    n: int | None = None,
    max_n: int = 1_000_000,
    backend: Any = "torch",
) -> CheckReport:
    """Check a forward-SDE simulator ``simulate_fn(x0, ts) -> (len(ts), n, d)`` against q(x_t | x0).

    The simulator starts n copies of the point ``x0`` at t = 0 (``ts[0] = 0``) and returns the samples at
    ``times``.  For every time t and coordinate j the n samples y_j are tested (refsde.testing._stats)
    against N(M_j, V): a two-sided chi-square (Wilson-Hilferty) variance test against the band
    [V (1 - a), V (1 + a)] and a mean test with allowance b, each at level alpha / (2 d len(times))
    (Bonferroni: family-wise false-alarm rate <= ``alpha``).  Target:

    * ``scheme="euler"``: the exact law of ``t/dt`` Euler-Maruyama steps (:func:`em_law`), a = b = 0.  The
      null hypothesis is exactly true for a correct EM simulator, so alpha holds at any dt.
    * ``scheme=None``: the SDE marginal M = alpha_t x0, V = sigma_t^2 (``ref.marginal``), with the allowances
      a = 2 |v_EM / sigma_t^2 - 1| and b = 2 |a_EM - alpha_t| |x0_j| (twice Euler-Maruyama's own error at
      this dt), for higher-order or adaptive simulators.

    ``n`` defaults to the size that detects a relative std error ``rel_std_error`` (3%) beyond the band
    with probability ``power`` in one (t, j); ValueError if that exceeds ``max_n`` (a band too wide).  Raises :class:`ConformanceError`; returns a CheckReport.
    """
    name = "check_simulated_marginal"
    be = get_backend(backend)
    times = [float(t) for t in times]
    x0h = np.asarray(x0, dtype=np.float64)
    d, m = x0h.size, len(times)
    z_c = z_two_sided(alpha / (2 * d * m))
    targets = []
    for t in times:
        alpha_t, sigma_t = (float(np.asarray(c)) for c in ref.marginal_coefficients(np.float64(t)))
        a_em, v_em = em_law(ref, t, dt)
        if scheme == "euler":
            targets.append((a_em * x0h, np.full(d, v_em), np.zeros(d), np.zeros(d)))
        elif scheme is None:
            var_allow = min(2.0 * abs(v_em / sigma_t**2 - 1.0), 0.5)
            targets.append((alpha_t * x0h, np.full(d, sigma_t**2), 2.0 * abs(a_em - alpha_t) * np.abs(x0h), np.full(d, var_allow)))
        else:
            raise ValueError(f"scheme must be None or 'euler', got {scheme!r}")
    a_max = max(float(np.max(tg[3])) for tg in targets)
    if n is None:
        n = sample_size(z_c, power, rel_std_error, a_max)
    n = int(n)
    if not 2 <= n <= max_n:
        raise ValueError(f"n = {n} paths is outside [2, max_n = {max_n}]: the allowance band (relative variance "
                         f"{a_max:.3g}) leaves too little room to detect rel_std_error = {rel_std_error}; use a smaller dt, "
                         "later times or a larger rel_std_error")
    x0_batch = be.asarray(np.broadcast_to(x0h, (n, d)).copy())
    ts = be.asarray(np.array([0.0] + times))
    out = simulate_fn(x0_batch, ts)
    if tuple(out.shape) != (m + 1, n, d):
        raise ConformanceError(name, "simulator output shape", expected=f"shape {(m + 1, n, d)}", got=f"shape {tuple(out.shape)}")
    y = np.asarray(be.to_numpy(out), dtype=np.float64)
    stats: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    for i, (t, (M, V, b, a)) in enumerate(zip(times, targets)):
        s_i: dict[str, float] = {}
        th_i: dict[str, float] = {}
        moment_tests(name, f"x(t = {t:g})", y[i + 1], M, V, b, a, z_c, s_i, th_i, reference=repr(ref),
                     input=f"{n} paths from x0 = {x0h.tolist()}, dt = {dt:g}, target {'Euler-Maruyama law' if scheme else 'q(x_t | x0)'}")
        stats.update(s_i)
        thresholds.update(th_i)
    return CheckReport(
        check=name, reference=repr(ref), properties=("variance", "mean"), n=n, statistics=stats, thresholds=thresholds,
        passed=True, alpha=alpha, power=power,
        detectable={"relative std error of one coordinate at one time": detectable_std_error(z_c, power, n, a_max)},
        backend=be.name, dtype=str(x0_batch.dtype),
        notes=(f"target: {'exact Euler-Maruyama law' if scheme else 'SDE marginal with 2x EM allowance'}",
               "false-alarm rate alpha is over the simulator's noise"),
    )


# ---- the report table ------------------------------------------------------------------------------------------
def _cases() -> list[tuple[str, str, str, str, Callable[[], Any]]]:
    """(id, library piece, check, expected verdict, call) for the report; tests/test_third_party.py pins them."""
    import refsde
    from refsde.testing import check_coefficients, check_corrector, check_marginal, check_sde_sampler

    vp = refsde.VPSDE(beta_min=0.1, beta_max=20.0)
    ve = refsde.VESDE(sigma_min=0.01, sigma_max=50.0, convention="score_sde")
    vps = diffusers_vp_scheduler
    ves = diffusers_ve_scheduler
    t0 = reference_at_t0
    dt = 2.0**-7
    return [
        ("dif-vp-sde", "VP step_pred: beta(t)", "check_coefficients", "fail: drift f(x, t)",
         lambda: check_coefficients(diffusers_vp_sde_fn(vps()), vp, backend="torch")),
        ("dif-vp-sde-t>0", "VP step_pred: beta(t), t = 0 from refsde", "check_coefficients", "pass",
         lambda: check_coefficients(t0(diffusers_vp_sde_fn(vps()), vp.sde), vp, backend="torch")),
        ("dif-vp-sde-f32", "VP step_pred: beta(t), t = 0 from refsde, float32", "check_coefficients", "fail: drift f(x, t)",
         lambda: check_coefficients(t0(diffusers_vp_sde_fn(vps()), vp.sde), vp, backend="torch", dtype="float32")),
        ("dif-vp-std", "VP step_pred: std(t), t = 0 from refsde", "check_marginal", "fail: marginal std",
         lambda: check_marginal(t0(diffusers_vp_marginal_fn(vps(), vp), vp.marginal), vp, backend="torch")),
        ("dif-vp-std-rtol", "VP step_pred: std(t), t = 0 from refsde, rtol 1e-6", "check_marginal", "pass",
         lambda: check_marginal(t0(diffusers_vp_marginal_fn(vps(), vp), vp.marginal), vp, backend="torch", rtol=1e-6)),
        ("dif-ve-sigma", "VE set_sigmas: sigma(t)", "check_marginal", "pass",
         lambda: check_marginal(diffusers_ve_marginal_fn(ves()), ve, backend="torch")),
        ("dif-ve-sigma-f32", "VE set_sigmas: sigma(t), float32", "check_marginal", "pass",
         lambda: check_marginal(diffusers_ve_marginal_fn(ves()), ve, backend="torch", dtype="float32")),
        ("dif-vp-sampler", "VP step_pred loop (200 steps), continuous target, 10% std", "check_sde_sampler", "pass",
         lambda: check_sde_sampler(diffusers_vp_sampler(vps(), vp), vp, n_steps=200, eps=1e-3, backend="torch",
                                   rel_std_error=0.1)),
        ("dif-ve-rd-refsde-grid", "VE step_pred loop, model at refsde's grid, method reverse_diffusion", "check_sde_sampler",
         "pass", lambda: check_sde_sampler(diffusers_ve_sampler(ves(), score_time="refsde"), ve, n_steps=200, eps=1e-5,
                                           method="reverse_diffusion", backend="torch")),
        ("dif-ve-rd-pipeline-grid", "VE step_pred loop, model at the pipeline's t, method reverse_diffusion",
         "check_sde_sampler", "fail: output variance",
         lambda: check_sde_sampler(diffusers_ve_sampler(ves()), ve, n_steps=200, eps=1e-5, method="reverse_diffusion",
                                   backend="torch")),
        ("dif-ve-corrector", "VE step_correct", "check_corrector", "pass",
         lambda: check_corrector(diffusers_ve_corrector(ves()), ve, backend="torch")),
        ("tsde-fwd-euler", "sdeint euler, forward VP, dt = 2^-7, exact EM law", "check_simulated_marginal", "pass",
         lambda: check_simulated_marginal(torchsde_forward_simulator(vp, dt=dt), vp, dt=dt, scheme="euler",
                                          rel_std_error=0.05)),
        ("tsde-fwd-srk", "sdeint srk, forward VP, dt = 2^-7, q(x_t | x0) with 2 x EM band", "check_simulated_marginal",
         "pass", lambda: check_simulated_marginal(torchsde_forward_simulator(vp, method="srk", dt=dt), vp, dt=dt,
                                                  times=(0.25, 0.5), rel_std_error=0.06)),
        ("tsde-rev-vp", "sdeint euler, reverse VP, 200 steps, method euler_maruyama", "check_sde_sampler", "pass",
         lambda: check_sde_sampler(torchsde_reverse_sampler(vp), vp, n_steps=200, eps=1e-3, method="euler_maruyama",
                                   backend="torch", rel_std_error=0.05)),
        ("tsde-rev-ve", "sdeint euler, reverse VE, 200 steps, method euler_maruyama", "check_sde_sampler", "pass",
         lambda: check_sde_sampler(torchsde_reverse_sampler(ve, eps=1e-5), ve, n_steps=200, eps=1e-5,
                                   method="euler_maruyama", backend="torch", rel_std_error=0.05)),
    ]


def main() -> None:
    """Print the Markdown table of the third-party verdicts (``python -m refsde_validation.evidence.third_party``)."""
    from .seed_candidates import _excerpt

    print("| id | piece | check | expected | verdict | message excerpt |")
    print("|---|---|---|---|---|---|")
    for cid, piece, check, expected, call in _cases():
        try:
            call()
            verdict, msg = "pass", ""
        except ConformanceError as e:
            verdict, msg = f"fail: {e.property}", str(e)
        cells = [cid, piece, check, expected, verdict, _excerpt(msg, 220) if msg else "-"]
        print("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")


if __name__ == "__main__":
    main()
