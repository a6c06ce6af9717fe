"""The machinery every sampler shares: the time grid and chain levels, host coefficient tables, the noise
source, the NaN watch, the progress bar, the final Tweedie step and :class:`SampleInfo`.

**Grid.** A sampler steps through n_steps + 1 times t_0 > t_1 > ... > t_n in (0, T]; step k goes from t_k
to t_{k+1} and evaluates its coefficients and the score at its left end t_k (:func:`sampler_grid`).  By
default t_k = linspace(T, eps, n_steps + 1) (computed as Python floats, numpy.linspace's arithmetic, so
every backend sees the same steps); ``grid=`` gives any decreasing grid instead (any namespace, read to
the host once), and n_steps and eps then follow from it.

**Chain levels.** The steps built on a discrete chain (the ``reverse_diffusion`` and ``ancestral``
predictors and the correctors' alpha_i = 1 - beta_i on VP / sub-VP) use the chain with N = n_steps levels
and, at step k, level (:func:`chain_levels`)

* ``"refsde"`` (default): i_k = n_steps - 1 - k, so a run visits levels N - 1, ..., 0 once each, as
  score_sde's chain does;
* ``"score_sde"``: i_k = floor(t_k (N - 1) / T), score_sde's ``discretize`` index of the grid time, which
  repeats one level and skips level 0 when the grid is not score_sde's own linspace(T, eps, N);
* a sequence of n_steps integers in [0, N).

Levels are chain data, not functions of the time; with the default grid the two indexings differ (on
linspace(T, eps, N + 1) floor() drifts by one level over the run: with n_steps = 1000, eps = 1e-3 level 499
is used twice and level 0 never).  Consequence of the default: the chain's levels cover the chain times
t_i = i T / (N - 1) on [0, T] (VP: the betas sum to B(T)), while the score is evaluated at the grid times,
which stop at eps, so the limit law is within O(eps) of p_eps, not p_eps itself.

**Coefficient tables.** Every coefficient of a run (f(t_k), g(t_k)^2, the chain's f_i, G_i, DDPM betas,
SMLD variances, corrector step sizes) is computed once, vectorized, by the SDE's own public methods in the
state's dtype and on its device, and moved to the host in one transfer (:func:`host_floats`): the updates
multiply by Python floats holding the dtype's values, which round exactly as the 0-d arrays did, and the
loop reads nothing from the device.  Each scheme's table is indexed by the step k.

**NaN.** The score's first output is checked (:class:`refsde._checks.CheckedScore` with ``nan="first"``),
then the *state*: ``isnan(sum(x))`` every :data:`CHECK_EVERY` steps and after the last step
(:class:`NaNWatch`; one reduction and one host bool per check, a NaN sum confirmed by an exact
``any(isnan(x))``).  A NaN score output always reaches the state (every update adds c * s, and IEEE keeps a
NaN through c * s even for c = 0), so it is reported at most CHECK_EVERY - 1 steps after it appeared, with
the window of times; a value that reaches the state only as the input of a later score call
(DPM-Solver-3's first stage) is registered with :meth:`NaNWatch.also`.

**Noise.** :class:`NoiseSource`: from a refsde RNG (``rng``: an int seed, an RNG or None; one draw of x's
shape per update, in the order the updates run, also for an update whose noise is then dropped) or from
explicit ``noise`` arrays, so that two implementations can be compared path by path.  Layouts:
``sample_sde`` and the one-noise-per-step samplers (n_steps, *x.shape), ``noise[k]`` driving step k;
``sample_pc`` (n_steps, 1 + M, *x.shape), ``noise[k, 0]`` the predictor's and ``noise[k, 1 + j]`` the j-th
corrector step's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from array_api_compat import device as device_of

from .._arrays import Array, any_true, check_finite, linspace_floats, namespace_of, progress_bar
from .._checks import CheckedScore, check_eps, check_grid, check_integer, check_state

CHECK_EVERY = 16
LEVELS = ("refsde", "score_sde")


# ---- grid and chain levels ------------------------------------------------------------------------------
def sampler_grid(sde: Any, n_steps: Any, eps: Any, grid: Any, *, default_eps: float = 1e-3) -> list[float]:
    """The host times t_0 > ... > t_n of a run.

    Without ``grid``: linspace(T, eps, n_steps + 1) (``eps`` None means ``default_eps``).  With ``grid``: the
    validated grid (:func:`refsde._checks.check_grid`; every time in (0, T]); an ``n_steps`` or ``eps`` that
    contradicts it (n_steps != len(grid) - 1, eps != grid[-1]) is a ValueError.
    """
    if grid is None:
        if n_steps is None:
            raise ValueError("give n_steps (an integer >= 1) or grid (the n_steps + 1 times)")
        n = check_integer(n_steps, "n_steps")
        return linspace_floats(float(sde.T), check_eps(sde, default_eps if eps is None else eps), n)
    times = check_grid(grid, float(sde.T))
    if n_steps is not None and check_integer(n_steps, "n_steps") != len(times) - 1:
        raise ValueError(f"n_steps = {n_steps} contradicts grid, which has {len(times) - 1} steps ({len(times)} times)")
    if eps is not None and float(eps) != times[-1]:
        raise ValueError(f"eps = {eps} contradicts grid, which ends at {times[-1]}")
    return times


def chain_levels(levels: Any, times: Sequence[float], T: float) -> list[int]:
    """The chain level i_k of every step k of the N = n_steps chain (module docstring)."""
    n = len(times) - 1
    if levels is None or (isinstance(levels, str) and levels == "refsde"):
        return [n - 1 - k for k in range(n)]  # step k <-> level N - 1 - k
    if isinstance(levels, str):
        if levels != "score_sde":
            raise ValueError(f"unknown levels {levels!r}; choose 'refsde', 'score_sde' or a sequence of integers")
        # score_sde's index floor(t (N - 1) / T) of each grid time (clipped: t_0 = T gives N - 1)
        return [min(n - 1, int(math.floor(times[k] * (n - 1) / T))) for k in range(n)]
    try:
        values = list(levels)
    except TypeError:
        raise ValueError(f"levels must be 'refsde', 'score_sde' or a sequence of {n} integers, got {levels!r}") from None
    if len(values) != n:
        raise ValueError(f"levels must hold one integer per step ({n}), got {len(values)}")
    out = []
    for k, value in enumerate(values):
        i = check_integer(value, f"levels[{k}]", 0)
        if i >= n:
            raise ValueError(f"levels[{k}] = {i} lies outside [0, N) = [0, {n}) (the chain has N = n_steps levels)")
        out.append(i)
    return out


def time_scalars(like: Array) -> Callable[[float], Array]:
    """``make(t)``: the host time t as a 0-d array of ``like``'s namespace, dtype and device (looked up once)."""
    xp, dtype, dev = namespace_of(like), like.dtype, device_of(like)

    def make(t: float) -> Array:
        return xp.asarray(t, dtype=dtype, device=dev)

    return make


def start(score_fn: Any, sde: Any, x_T: Array, n_steps: Any, eps: Any, grid: Any) -> tuple[list[float], CheckedScore]:
    """The common start of a time-grid sampler: (host grid times, checked score with NaN on the first call)."""
    check_sde(sde)
    check_state(x_T)
    times = sampler_grid(sde, n_steps, eps, grid)
    return times, CheckedScore(score_fn, nan="first")


def check_sde(sde: Any) -> None:
    """TypeError unless ``sde`` is an SDE object (it needs T and the schedule's methods)."""
    if not (hasattr(sde, "T") and hasattr(sde, "marginal_coefficients")):
        raise TypeError(f"sde must be a refsde SDE (e.g. refsde.VPSDE()), got {type(sde).__name__}")


# ---- noise ------------------------------------------------------------------------------------------------
class NoiseSource:
    """``draw(k)`` / ``draw(k, j)``: the noise of update (k[, j]), an array like ``x`` (layouts: module docstring)."""

    def __init__(self, x: Array, lead: tuple[int, ...], *, noise: Any = None, rng: Any = None) -> None:
        self._x = x
        self._lead = lead
        if noise is not None and rng is not None:
            raise ValueError("give either rng or noise, not both")
        self._noise = None if noise is None else self._check(noise)
        self._gen = None
        if noise is None:
            from ..backends import backend_of, make_rng

            self._gen = make_rng(rng, backend_of(x))

    def _check(self, noise: Any) -> Any:
        x, lead = self._x, self._lead
        expected = lead + tuple(x.shape)
        if isinstance(noise, (list, tuple)):
            return self._check_sequence(noise, expected)
        xp = namespace_of(x, noise)
        if tuple(noise.shape) != expected:
            raise ValueError(f"noise must have shape {expected} (see the layout), got {tuple(noise.shape)}")
        if not xp.isdtype(noise.dtype, "real floating"):
            raise ValueError(f"noise must be a real floating array, got dtype {noise.dtype}")
        check_finite(xp, noise, "noise")
        return noise if noise.dtype == x.dtype else xp.astype(noise, x.dtype)

    def _check_sequence(self, noise: Sequence[Any], expected: tuple[int, ...]) -> list[Any]:
        if len(noise) != expected[0]:
            raise ValueError(f"noise must have {expected[0]} entries (one per step), got {len(noise)}")
        out: list[Any] = []
        for item in noise:
            if isinstance(item, (list, tuple)) and len(expected) > len(self._x.shape) + 1:
                if len(item) != expected[1]:
                    raise ValueError(f"each noise entry must hold {expected[1]} draws, got {len(item)}")
                out.append([self._check_one(z, expected[2:]) for z in item])
            else:
                out.append(self._check_one(item, expected[1:]))
        return out

    def _check_one(self, z: Any, shape: tuple[int, ...]) -> Array:
        xp = namespace_of(self._x, z)
        if tuple(z.shape) != shape:
            raise ValueError(f"noise entries must have shape {shape}, got {tuple(z.shape)}")
        if not xp.isdtype(z.dtype, "real floating"):
            raise ValueError(f"noise must be a real floating array, got dtype {z.dtype}")
        check_finite(xp, z, "noise")
        return z if z.dtype == self._x.dtype else xp.astype(z, self._x.dtype)

    def draw(self, k: int, j: int | None = None) -> Array:
        if self._gen is not None:
            return self._gen.normal(tuple(self._x.shape), dtype=self._x.dtype)
        noise = self._noise
        if isinstance(noise, list):
            item = noise[k]
            if j is None:
                return item
            return item[j] if isinstance(item, list) else item[j, ...]
        return noise[k, ...] if j is None else noise[k, j, ...]


# ---- NaN watch ----------------------------------------------------------------------------------------------
class NaNWatch:
    """``after(k, x)``: check the state x after step k (a no-op except every CHECK_EVERY steps and at the end)."""

    def __init__(self, x: Array, times: Sequence[float], every: int = CHECK_EVERY) -> None:
        self._xp = namespace_of(x)
        self._times = times
        self._n = len(times) - 1
        self._every = every
        self._checked = 0  # steps known to be NaN-free
        self._side: Array | None = None  # 0-d bool: a value registered with also() held NaN

    def also(self, a: Array) -> None:
        """Watch ``a`` too (a score output that reaches the state only through a later score call's input);
        one reduction on the device, no host read."""
        flag = self._xp.any(self._xp.isnan(a))
        self._side = flag if self._side is None else self._side | flag

    def after(self, k: int, x: Array) -> None:
        if (k + 1) % self._every == 0 or k + 1 == self._n:
            self.check(k, x)

    def check(self, k: int, x: Array) -> None:
        """Raise ValueError if x (the state after step k), or a value given to :meth:`also`, contains NaN."""
        xp = self._xp
        if self._side is None:
            bad = has_nan(xp, x)
        else:  # one host read for both; an exact check only when it fires
            bad = any_true(xp, xp.isnan(xp.sum(x)) | self._side) and (
                any_true(xp, self._side) or any_true(xp, xp.isnan(x))
            )
        if bad:
            first = self._checked
            t0, t1 = self._times[first], self._times[k + 1]
            when = f"at t = {t0}" if t0 == t1 else f"t from {t0} down to {t1}"
            raise ValueError(
                f"the sampler state became NaN in steps {first}..{k} ({when}): score_fn returned NaN there, "
                "or an update overflowed"
            )
        self._checked = k + 1

    def check_denoised(self, x: Array) -> None:
        """Raise ValueError if the output of the final denoising step contains NaN."""
        if has_nan(self._xp, x):
            raise ValueError(f"the denoised state contains NaN: score_fn returned NaN at t = {self._times[-1]}")


def has_nan(xp: Any, x: Array) -> bool:
    """Whether x contains NaN: a NaN sum (one fused reduction) confirmed by an exact ``any(isnan(x))``."""
    return math.isnan(float(xp.sum(x))) and any_true(xp, xp.isnan(x))


# ---- the rest of a run --------------------------------------------------------------------------------------
def steps(n: int, enabled: bool, desc: str) -> Iterable[int]:
    """range(n), with a progress bar when ``enabled`` (:func:`progress_bar`)."""
    bar = progress_bar(enabled, desc, n)
    if bar is None:
        return range(n)

    def ticking() -> Iterable[int]:
        try:
            for k in range(n):
                yield k
                bar.update(1)
        finally:
            bar.close()

    return ticking()


def tweedie_denoise(score: CheckedScore, sde: Any, x: Array, t: float) -> Array:
    """x0_hat = (x + sigma_t^2 s(x, t)) / alpha_t = E[x_0 | x_t = x] (Tweedie's formula) at the host time t."""
    tt = time_scalars(x)(t)
    alpha, sigma = sde.marginal_coefficients(tt)
    s = score(x, tt)
    return (x + (sigma * sigma) * s) / alpha  # Tweedie: E[x0 | x_t] = (x_t + sigma_t^2 grad log p_t) / alpha_t


@dataclass(frozen=True)
class SampleInfo:
    """Bookkeeping of one sampler call.

    nfe: number of score evaluations (the denoising step included).
    grid: the time grid, shape (n_steps + 1,), from t_0 down to t_n, in x_T's namespace, dtype and device.
    n_accepted, n_rejected: accepted / rejected steps; fixed-step samplers accept all n_steps steps.
    method: the scheme, e.g. ``"euler_maruyama"``, ``"pc(reverse_diffusion, langevin, predictor_first)"``,
    ``"ode(rk4)"``.
    """

    nfe: int
    grid: Any
    n_accepted: int
    n_rejected: int
    method: str

