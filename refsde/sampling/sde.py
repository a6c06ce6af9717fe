"""Samplers of the reverse-time SDE: Euler-Maruyama, reverse diffusion and ancestral sampling.

Each scheme is a table of per-step coefficients (host floats, indexed by the step k: :mod:`._loop`) and
one update expression ``step(k, x, s, z) -> (x_next, x_mean)`` with s = s(x, t_k) the score at the step's
left end and z a standard normal draw like x; ``x_mean`` is ``x_next`` without its noise term.  The three
predictors here are also the predictors of :func:`refsde.sampling.sample_pc`.

* ``euler_maruyama``: x' = x - [f(t_k) x - g(t_k)^2 s] h_k + g(t_k) sqrt(h_k) z, h_k = t_k - t_{k+1}
  (Euler step of the reverse SDE, Song et al. 2021, eq. 6).
* ``reverse_diffusion``: x' = x - f_i + G_i^2 s + G_i z with (f_i, G_i) = sde.discretize(x, t_k, N,
  level=i_k), the reverse of the forward chain x_{i+1} = x_i + f_i + G_i z (Song et al. 2021, App. E);
  its step is the chain's own T / N, not h_k.  VP: the DDPM chain, VE: the SMLD chain, other SDEs:
  Euler-Maruyama with dt = T / N at t_k.
* ``ancestral``: DDPM (VPSDE): x' = (x + beta_i s) / sqrt(1 - beta_i) + sqrt(beta_i) z (Ho et al. 2020,
  eq. 11 in score form); SMLD (VESDE): x' = x + (var_i - var_{i-1}) s + sqrt(var_{i-1} (var_i - var_{i-1})
  / var_i) z (Song et al. 2021, App. F), noise 0 where var_i = 0.

i_k is the chain level of step k of the N = n_steps chain (``levels=``, :func:`._loop.chain_levels`).
The chain coefficients come from the SDE's own accessors (``discretize``, :meth:`VPSDE.ddpm_betas`,
:meth:`SDE.chain_times`), evaluated once for all steps; an SDE subclass that overrides ``discretize``
gets its override tabulated the same way (f_i = c_i x, as for every linear SDE).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from array_api_compat import device as device_of

from .._arrays import Array, host_array, host_floats, namespace_of
from .._checks import check_choice
from ..sde import SDE, VESDE, VPSDE
from ._loop import NaNWatch, NoiseSource, SampleInfo, chain_levels, start, steps, time_scalars, tweedie_denoise

SDE_METHODS = ("euler_maruyama", "reverse_diffusion", "ancestral")


class EulerMaruyama:
    """f(t_k), g(t_k)^2, h_k and sqrt(g(t_k)^2 h_k) of every step k."""

    def __init__(self, sde: Any, times: Sequence[float], like: Array) -> None:
        t = host_array(times[:-1], like)
        self.h = [times[k] - times[k + 1] for k in range(len(times) - 1)]
        self.f = host_floats(sde.drift_coefficient(t))  # validates every grid time once
        g2 = sde.diffusion_squared(t)
        self.g2 = host_floats(g2)
        self.scale = host_floats(namespace_of(like).sqrt(g2 * host_array(self.h, like)))  # sqrt(g^2 h)

    def step(self, k: int, x: Array, s: Array, z: Array) -> tuple[Array, Array]:
        mean = x - (self.f[k] * x - self.g2[k] * s) * self.h[k]  # Euler step of the reverse SDE (Song et al. eq. 6)
        return mean + self.scale[k] * z, mean


def _chain_inputs(times: Sequence[float], levels: Sequence[int], like: Array) -> tuple[Array, Array, Array]:
    """(ones of shape (K, 1), the step times t_k, the levels i_k as an integer array) for one vectorized
    ``sde.discretize`` call over the K steps."""
    xp = namespace_of(like)
    K = len(levels)
    ones = xp.ones((K, 1), dtype=like.dtype, device=device_of(like))
    return ones, host_array(times[:K], like), xp.asarray(list(levels), device=device_of(like))


class ReverseDiffusion:
    """(f_i = (c_k x) dt, G_k, G_k^2) of ``sde.discretize(x, t_k, N=n_steps, level=i_k)`` for every step k.

    ``dt`` is 1 for a chain given as f_i = c_i x (VP, VE, overrides) and T / N for the Euler-Maruyama chain
    f_i = (f(t) x) dt, whose factors are kept apart so that f_i rounds as ``discretize`` computes it.
    """

    def __init__(self, sde: Any, times: Sequence[float], levels: Sequence[int], like: Array) -> None:
        N = len(times) - 1
        ones, t, lv = _chain_inputs(times, levels, like)
        f, G = sde.discretize(ones, t, N=N, level=lv)  # validates; f = c_i * 1 = c_i exactly
        if isinstance(sde, SDE) and getattr(sde.discretize, "__func__", None) is SDE.discretize:
            self.c, self.dt = host_floats(sde.drift_coefficient(t)), sde.T / N  # Euler-Maruyama chain
        else:
            self.c, self.dt = host_floats(f[:, 0]), 1.0
        self.G, self.G2 = host_floats(G), host_floats(G * G)

    def step(self, k: int, x: Array, s: Array, z: Array) -> tuple[Array, Array]:
        c = self.c[k]
        f = 0.0 if c == 0.0 else (c * x if self.dt == 1.0 else (c * x) * self.dt)  # f_i as discretize computes it
        mean = x - f + self.G2[k] * s  # reverse of x_{i+1} = x_i + f_i + G_i z (Song et al. App. E)
        return mean + self.G[k] * z, mean


class AncestralDDPM:
    """beta_k, sqrt(1 - beta_k), sqrt(beta_k) of the DDPM betas at the level of every step k (VPSDE)."""

    def __init__(self, sde: Any, times: Sequence[float], levels: Sequence[int], like: Array) -> None:
        xp = namespace_of(like)
        beta = sde.ddpm_betas(len(times) - 1, like=like)  # beta_i = beta(t_i) T / N
        by_level = host_floats(beta), host_floats(xp.sqrt(1.0 - beta)), host_floats(xp.sqrt(beta))
        self.beta, self.root, self.noise = ([column[i] for i in levels] for column in by_level)

    def step(self, k: int, x: Array, s: Array, z: Array) -> tuple[Array, Array]:
        mean = (x + self.beta[k] * s) / self.root[k]  # DDPM ancestral mean (Ho et al. 2020 eq. 11, score form)
        return mean + self.noise[k] * z, mean


class AncestralSMLD:
    """var_i - var_{i-1} (= G_i^2 of the SMLD chain) and the posterior std at the level of every step k (VESDE)."""

    def __init__(self, sde: Any, times: Sequence[float], levels: Sequence[int], like: Array) -> None:
        xp = namespace_of(like)
        N = len(times) - 1
        t_i = sde.chain_times(N, like=like)
        std = sde.sigma(t_i)  # std(t_i) in the SDE's convention
        var = std * std
        ones = xp.ones((N, 1), dtype=like.dtype, device=device_of(like))
        _, G = sde.discretize(ones, t_i, N=N, level=xp.arange(N, device=device_of(like)))
        dvar = G * G  # var_i - var_{i-1}: the chain's increment G_i^2 (var_{-1} = 0)
        var_prev = xp.concat([0.0 * var[:1], var[:-1]])
        positive = var > 0.0
        safe = xp.where(positive, var, xp.ones_like(var))
        # std = sqrt(var_{i-1} (var_i - var_{i-1}) / var_i), 0 where var_i = 0 (SMLD ancestral step)
        noise = xp.where(positive, xp.sqrt(var_prev * dvar / safe), xp.zeros_like(var))
        dvar_h, noise_h = host_floats(dvar), host_floats(noise)
        self.dvar, self.noise = [dvar_h[i] for i in levels], [noise_h[i] for i in levels]

    def step(self, k: int, x: Array, s: Array, z: Array) -> tuple[Array, Array]:
        mean = x + self.dvar[k] * s  # SMLD ancestral mean (Song et al. 2021, App. F)
        return mean + self.noise[k] * z, mean


Predictor = Any  # EulerMaruyama | ReverseDiffusion | AncestralDDPM | AncestralSMLD


def predictor_table(name: Any, sde: Any, times: Sequence[float], levels: Sequence[int], like: Array) -> Predictor:
    """The table of predictor ``name`` on this grid; ValueError where it does not apply to ``sde`` / the grid."""
    check_choice(name, SDE_METHODS, "predictor method")
    if name == "euler_maruyama":
        return EulerMaruyama(sde, times, like)
    if name == "ancestral" and not isinstance(sde, (VPSDE, VESDE)):
        raise ValueError(f"ancestral sampling is defined for VPSDE and VESDE only, not {type(sde).__name__}")
    check_chain(sde, len(times) - 1, name, uses_betas=isinstance(sde, VPSDE))
    if name == "reverse_diffusion":
        return ReverseDiffusion(sde, times, levels, like)
    if isinstance(sde, VPSDE):
        return AncestralDDPM(sde, times, levels, like)
    return AncestralSMLD(sde, times, levels, like)


def check_chain(sde: Any, n_steps: int, what: str, *, uses_betas: bool) -> None:
    """The chain with N = n_steps levels needs n_steps >= 2 (its times are i T / (N - 1)) and, where it uses
    the DDPM betas beta_i = beta(t_i) T / N, N > beta_max T (so that every beta_i < 1)."""
    if n_steps < 2:
        raise ValueError(f"{what} runs the SDE's discrete chain with N = n_steps, which needs n_steps >= 2")
    if uses_betas and sde.beta_max * sde.T / n_steps >= 1.0:
        raise ValueError(
            f"{what} on a {type(sde).__name__} uses the DDPM betas beta(t_i) T / N with N = n_steps, which need "
            f"n_steps > beta_max T = {sde.beta_max * sde.T}; got n_steps = {n_steps}"
        )


def sample_sde(
    score_fn: Callable[[Array, Array], Array],
    sde: Any,
    x_T: Array,
    n_steps: int | None = None,
    *,
    eps: float | None = None,
    grid: Any = None,
    levels: Any = None,
    method: str = "euler_maruyama",
    rng: Any = None,
    noise: Any = None,
    last_step_noise: bool = True,
    denoise: bool = False,
    progress: bool = False,
) -> tuple[Array, SampleInfo]:
    """Integrate the reverse-time SDE from t_0 = T down to eps in ``n_steps`` fixed steps (or on ``grid``).

    Args:
        score_fn: s(x, t) ~ grad log p_t(x); called as ``score_fn(x, t)`` with t a 0-d array of x_T's dtype.
        sde: the forward SDE.
        x_T: initial state, shape (n, *dims), e.g. ``sde.prior_sample((n, d), rng)``.
        n_steps: number of steps (>= 1; reverse_diffusion and ancestral need >= 2, and on a VPSDE
            n_steps > beta_max T so that the DDPM betas stay below 1).  Follows from ``grid`` when given.
        eps: the last time (default 1e-3): the grid is linspace(T, eps, n_steps + 1).
        grid: instead of the default grid, any decreasing times t_0 > ... > t_n in (0, T] (n + 1 of
            them, any namespace); n_steps and eps then follow from it (contradicting values raise).
        levels: chain level of each step for reverse_diffusion / ancestral: ``"refsde"`` (default,
            N - 1 - k), ``"score_sde"`` (floor(t_k (N - 1) / T)) or n_steps integers in [0, N), N = n_steps.
        method: ``"euler_maruyama"``, ``"reverse_diffusion"`` or ``"ancestral"`` (module docstring).
        rng, noise: the noise source (not both); ``noise`` has shape (n_steps, *x_T.shape).
        last_step_noise: False returns the last step's mean (score_sde's ``denoise=True``).
        denoise: apply Tweedie's step E[x_0 | x_t] at the last grid time (one more score evaluation).
        progress: show a tqdm bar if tqdm is installed.

    Returns:
        (x, info): x of x_T's shape, dtype and device; info a :class:`SampleInfo` (nfe = n_steps, +1
        with denoise; grid = the n_steps + 1 times).
    """
    times, score = start(score_fn, sde, x_T, n_steps, eps, grid)
    n = len(times) - 1
    step = predictor_table(method, sde, times, chain_levels(levels, times, sde.T), x_T).step
    source = NoiseSource(x_T, (n,), noise=noise, rng=rng)
    watch = NaNWatch(x_T, times)
    make_t = time_scalars(x_T)
    x = x_T
    for k in steps(n, progress, method):
        z = source.draw(k)
        x_next, x_mean = step(k, x, score(x, make_t(times[k])), z)
        x = x_next if (last_step_noise or k < n - 1) else x_mean
        x_next = x_mean = z = None  # release the unused one before the next score call (allocator reuse)
        watch.after(k, x)
    if denoise:
        x = tweedie_denoise(score, sde, x, times[-1])
        watch.check_denoised(x)
    return x, SampleInfo(score.nfe, host_array(times, x_T), n, 0, method)
