"""Path-by-path tests with explicit noise (deterministic, float64 tolerance).

* Every linear scheme against the NumPy oracle's recursion x' = A x + B + C z, fed the same noise.
* The Langevin corrector (per-sample and batch-mean norms, both PC orders) against a NumPy re-implementation
  of score_sde's formula e = 2 alpha_i (snr ||z|| / ||s||)^2.
* Ancestral VP sampling == iterating the reverse of ``sde.discretize(x, t, N=n, level=n - 1 - k)`` (the DDPM
  chain at N = n_steps), and == score_sde's DDPM reverse chain on discrete_betas = linspace(beta_min / N,
  beta_max / N, N) visited from level N - 1 down to 0; ancestral VE == the SMLD chain's increments G_i^2 from
  ``sde.discretize``; reverse diffusion == score_sde's ``rsde.discretize`` (the reverse of the level-indexed
  chain); Euler-Maruyama == the Euler step of ``ReverseSDE.sde_coefficients``.
* Every chain-based update visits each level 0..n-1 exactly once, in the order n - 1, ..., 0, read off the
  samplers' own output (black box) with n = 1000, eps = 1e-3, where floor(t_k (N - 1) / T) would repeat
  level 499 and never reach level 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import refsde
from refsde.sampling import sample_pc, sample_sde

try:
    from test_sampling_oracle import (
        DATA,
        SPECS,
        affine,
        chain_level,
        grid,
        pc_updates,
        predictor_update,
        propagate_paths,
        sde_updates,
    )
except ImportError:  # tests/ as a package
    from .test_sampling_oracle import (  # type: ignore[no-redef]
        DATA,
        SPECS,
        affine,
        chain_level,
        grid,
        pc_updates,
        predictor_update,
        propagate_paths,
        sde_updates,
    )

BACKEND = refsde.get_backend()
XP = BACKEND.xp
EPS = 1e-3
N = 25  # > beta_max T = 20
BATCH = 6
SNR = 0.3


def _arr(a: np.ndarray):
    return BACKEND.asarray(np.ascontiguousarray(a), dtype=XP.float64)


def _np(a) -> np.ndarray:
    return np.asarray(BACKEND.to_numpy(a), dtype=np.float64)


def _x_T(kind: str, seed: int) -> np.ndarray:
    return math.sqrt(SPECS[kind].prior_var()) * np.random.default_rng(seed).standard_normal((BATCH, 2))


def _close(actual, expected, rtol=1e-10):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


SDE_CASES = [
    (k, m)
    for k in ("vp", "subvp", "ve", "ve_sd")
    for m in ("euler_maruyama", "reverse_diffusion", "ancestral")
    if not (k == "subvp" and m == "ancestral")
]


@pytest.mark.parametrize("last_step_noise,denoise", [(True, False), (False, True)])
@pytest.mark.parametrize("kind,method", SDE_CASES)
def test_sde_sampler_matches_oracle_recursion(kind, method, last_step_noise, denoise):
    spec = SPECS[kind]
    x_np = _x_T(kind, 1)
    z = np.random.default_rng(2).standard_normal((N, BATCH, 2))
    x, info = sample_sde(DATA.score_fn(spec, BACKEND), spec.make(), _arr(x_np), N, eps=EPS, method=method,
                         noise=_arr(z), last_step_noise=last_step_noise, denoise=denoise)
    ups = sde_updates(spec, method, N, EPS, last_step_noise, denoise)
    z_all = np.concatenate([z, np.zeros((len(ups) - N, BATCH, 2))])
    _close(_np(x), propagate_paths(spec, DATA, ups, x_np, z_all))
    assert info.nfe == N + denoise and info.method == method


def _pc_noise_order(n: int, m: int, order: str, has_predictor: bool = True) -> list[tuple[int, int]]:
    """(k, slot) of each update in run order: slot 0 the predictor, 1 + j the j-th corrector step."""
    out = []
    for k in range(n):
        p = [(k, 0)] if has_predictor else []
        c = [(k, 1 + j) for j in range(m)]
        out += p + c if order == "predictor_first" else c + p
    return out


@pytest.mark.parametrize("order", ["predictor_first", "corrector_first"])
@pytest.mark.parametrize(
    "kind,predictor",
    [("vp", "reverse_diffusion"), ("subvp", "euler_maruyama"), ("ve", "ancestral"), ("ve_sd", "reverse_diffusion")],
)
def test_pc_annealed_langevin_matches_oracle_recursion(kind, predictor, order):
    spec, m = SPECS[kind], 2
    x_np = _x_T(kind, 3)
    z = np.random.default_rng(4).standard_normal((N, 1 + m, BATCH, 2))
    x, info = sample_pc(DATA.score_fn(spec, BACKEND), spec.make(), _arr(x_np), N, eps=EPS, predictor=predictor,
                        corrector="annealed_langevin", snr=SNR, n_corrector_steps=m, order=order, noise=_arr(z),
                        last_step_noise=False, denoise=True)
    ups = pc_updates(spec, predictor, N, EPS, snr=SNR, m=m, order=order, last_step_noise=False, denoise=True)
    z_run = np.stack([z[k, slot] for k, slot in _pc_noise_order(N, m, order)] + [np.zeros((BATCH, 2))])
    _close(_np(x), propagate_paths(spec, DATA, ups, x_np, z_run))
    assert info.nfe == N * (1 + m) + 1
    assert info.method == f"pc({predictor}, annealed_langevin, {order})"


# ---------------------------------------------------------------------------------------------------
# Langevin corrector against a NumPy re-implementation
# ---------------------------------------------------------------------------------------------------


def _np_score(kind: str, x: np.ndarray, t: float) -> np.ndarray:
    spec = SPECS[kind]
    return -(x - spec.alpha(t) * DATA.mu_np) / DATA.S(spec, t)


def _np_langevin(
    kind: str, x: np.ndarray, t: float, z: np.ndarray, snr: float, batch_norm: bool, noisy: bool, level: int
):
    """score_sde's LangevinCorrector.update_fn, one step, in NumPy (norms over the feature axis); alpha_i
    of chain level ``level``."""
    spec = SPECS[kind]
    s = _np_score(kind, x, t)
    s_norm, z_norm = np.linalg.norm(s, axis=1), np.linalg.norm(z, axis=1)
    if batch_norm:
        s_norm, z_norm = np.full(BATCH, s_norm.mean()), np.full(BATCH, z_norm.mean())
    e = (snr * z_norm / s_norm) ** 2 * 2.0 * spec.corrector_alpha(level, N)
    mean = x + e[:, None] * s
    return mean + np.sqrt(2.0 * e)[:, None] * z if noisy else mean


def _np_pc_langevin(kind, predictor, x, z, m, order, batch_norm, last_step_noise):
    spec = SPECS[kind]
    ts = grid(spec, N, EPS)
    for k in range(N):
        last_k = k == N - 1
        i = chain_level(N, k)  # predictor and correctors of step k: level N - 1 - k

        def pred(x):
            A, B, C = affine(spec, DATA, predictor_update(spec, predictor, ts[k], ts[k] - ts[k + 1], N, i))
            noisy = last_step_noise or not (last_k and order == "corrector_first")
            return A * x + B + (C * z[k, 0] if noisy else 0.0)

        def corr(x, t):
            for j in range(m):
                noisy = last_step_noise or not (last_k and order == "predictor_first" and j == m - 1)
                x = _np_langevin(kind, x, t, z[k, 1 + j], SNR, batch_norm, noisy, i)
            return x

        x = corr(pred(x), ts[k + 1]) if order == "predictor_first" else pred(corr(x, ts[k]))
    return x


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("order", ["predictor_first", "corrector_first"])
@pytest.mark.parametrize("kind,predictor", [("vp", "reverse_diffusion"), ("subvp", "reverse_diffusion"),
                                            ("ve", "euler_maruyama"), ("ve_sd", "ancestral")])
def test_pc_langevin_matches_numpy_reference(kind, predictor, order, batch_norm):
    spec, m = SPECS[kind], 2
    x_np = _x_T(kind, 5)
    z = np.random.default_rng(6).standard_normal((N, 1 + m, BATCH, 2))
    for last_step_noise in (True, False):
        x, info = sample_pc(DATA.score_fn(spec, BACKEND), spec.make(), _arr(x_np), N, eps=EPS, predictor=predictor,
                            corrector="langevin", snr=SNR, n_corrector_steps=m, order=order, batch_norm=batch_norm,
                            noise=_arr(z), last_step_noise=last_step_noise)
        expected = _np_pc_langevin(kind, predictor, x_np, z, m, order, batch_norm, last_step_noise)
        _close(_np(x), expected, rtol=1e-9)
        assert info.nfe == N * (1 + m)


def test_corrector_only_sampling_matches_reference():
    """predictor=None: Langevin steps at each grid time t_k (corrector_first) or t_{k+1} (predictor_first)."""
    kind, m = "ve", 1
    x_np = _x_T(kind, 7)
    z = np.random.default_rng(8).standard_normal((N, 1 + m, BATCH, 2))
    for order in ("predictor_first", "corrector_first"):
        x, info = sample_pc(DATA.score_fn(SPECS[kind], BACKEND), SPECS[kind].make(), _arr(x_np), N, eps=EPS,
                            predictor=None, corrector="langevin", snr=SNR, order=order, noise=_arr(z))
        ts = grid(SPECS[kind], N, EPS)
        y = x_np
        for k in range(N):
            t_c = ts[k + 1] if order == "predictor_first" else ts[k]
            y = _np_langevin(kind, y, t_c, z[k, 1], SNR, False, True, chain_level(N, k))
        _close(_np(x), y, rtol=1e-9)
        assert info.nfe == N


# ---------------------------------------------------------------------------------------------------
# Consistency with refsde.sde's discrete chains and reverse SDE
# ---------------------------------------------------------------------------------------------------


def _grid_times(sde, n):
    return [BACKEND.asarray(float(t), dtype=XP.float64) for t in np.linspace(sde.T, EPS, n + 1)]


def _run_sde(kind, method, x_np, z, n=N, eps=EPS, spec=None):
    spec = spec or SPECS[kind]
    x, _ = sample_sde(DATA.score_fn(spec, BACKEND), spec.make(), _arr(x_np), n, eps=eps, method=method, noise=_arr(z))
    return _np(x)


def test_ancestral_vp_is_reverse_of_ddpm_discretize():
    """x' = (x + beta_i s) / sqrt(1 - beta_i) + sqrt(beta_i) z with beta_i = G_i^2 of
    VPSDE.discretize(x, t_k, N=n, level=n - 1 - k)."""
    spec = SPECS["vp"]
    sde = spec.make()
    score = DATA.score_fn(spec, BACKEND)
    x_np = _x_T("vp", 9)
    z = np.random.default_rng(10).standard_normal((N, BATCH, 2))
    x = _arr(x_np)
    for k, t in enumerate(_grid_times(sde, N)[:-1]):
        f, G = sde.discretize(x, t, N=N, level=N - 1 - k)
        beta = G * G
        _close(_np(f), _np((XP.sqrt(1.0 - beta) - 1.0) * x), rtol=1e-12)  # the chain is DDPM's
        x = (x + beta * score(x, t)) / XP.sqrt(1.0 - beta) + G * _arr(z[k])
    _close(_run_sde("vp", "ancestral", x_np, z), _np(x), rtol=1e-12)


@pytest.mark.parametrize("n,eps,T", [(25, EPS, 1.0), (1000, EPS, 1.0), (50, 0.05, 2.0)])
def test_ancestral_vp_is_score_sdes_ddpm_chain(n, eps, T):
    """Iterating score_sde's DDPM reverse chain in NumPy, path by path: betas = linspace(beta_min T / N,
    beta_max T / N, N) (score_sde's discrete_betas for T = 1), visited from level N - 1 down to 0, one
    level per grid step, x' = (x + beta_i s(x, t_k)) / sqrt(1 - beta_i) + sqrt(beta_i) z_k with the score at
    the sampler's grid time t_k.  (n = 1000, eps = 1e-3 is the case where the old floor(t_k (N - 1) / T)
    index used level 499 twice and never level 0.)"""
    spec = SPECS["vp"] if T == 1.0 else type(SPECS["vp"])("vp", T=T)
    betas = np.linspace(spec.beta_min * T / n, spec.beta_max * T / n, n)
    ts = np.linspace(T, eps, n + 1)
    x_np = _x_T("vp", 21)
    z = np.random.default_rng(22).standard_normal((n, BATCH, 2))
    y = x_np
    for k in range(n):
        b = betas[n - 1 - k]
        s = -(y - spec.alpha(ts[k]) * DATA.mu_np) / DATA.S(spec, ts[k])
        y = (y + b * s) / math.sqrt(1.0 - b) + math.sqrt(b) * z[k]
    _close(_run_sde("vp", "ancestral", x_np, z, n=n, eps=eps, spec=spec), y, rtol=1e-10)


@pytest.mark.parametrize("kind", ["ve", "ve_sd"])
def test_ancestral_ve_uses_smld_increments(kind):
    """x' = x + G_i^2 s + sqrt(var_{i-1} G_i^2 / var_i) z, G_i^2 from VESDE.discretize(x, t, N=n, level=i),
    i = n - 1 - k, and var_i = sigma(t_i)^2 on t_i = i T / (n - 1)."""
    spec = SPECS[kind]
    sde = spec.make()
    score = DATA.score_fn(spec, BACKEND)
    x_np = _x_T(kind, 11)
    z = np.random.default_rng(12).standard_normal((N, BATCH, 2))
    x = _arr(x_np)
    for k, t in enumerate(_grid_times(sde, N)[:-1]):
        i = N - 1 - k
        _, G = sde.discretize(x, t, N=N, level=i)
        t_chain = [BACKEND.asarray(j * sde.T / (N - 1), dtype=XP.float64) for j in (i, max(i - 1, 0))]
        var = [float(sde.sigma(tc)) ** 2 for tc in t_chain]
        var_i, var_prev = var[0], (var[1] if i >= 1 else 0.0)
        G2 = float(G) ** 2
        assert abs(var_i - var_prev - G2) <= 1e-12 * var_i  # discretize's increment is var_i - var_{i-1}
        std = math.sqrt(var_prev * G2 / var_i) if var_i > 0 else 0.0
        x = x + G2 * score(x, t) + std * _arr(z[k])
    _close(_run_sde(kind, "ancestral", x_np, z), _np(x), rtol=1e-11)


@pytest.mark.parametrize("kind", ["vp", "subvp", "ve", "ve_sd"])
def test_reverse_diffusion_is_reverse_sde_discretize(kind):
    """score_sde's ReverseDiffusionPredictor: rev_f = f_i - G_i^2 s(x, t) and x' = x - rev_f + G_i z with
    (f_i, G_i) = sde.discretize(x, t_k, N=n, level=n - 1 - k) (score_sde's rsde.discretize at that level)."""
    spec = SPECS[kind]
    sde = spec.make()
    score = DATA.score_fn(spec, BACKEND)
    x_np = _x_T(kind, 13)
    z = np.random.default_rng(14).standard_normal((N, BATCH, 2))
    x = _arr(x_np)
    for k, t in enumerate(_grid_times(sde, N)[:-1]):
        f, G = sde.discretize(x, t, N=N, level=N - 1 - k)
        rev_f = f - (G * G) * score(x, t)  # score_sde's ReverseSDE.discretize
        x = x - rev_f + G * _arr(z[k])
    _close(_run_sde(kind, "reverse_diffusion", x_np, z), _np(x), rtol=1e-11)


@pytest.mark.parametrize("kind", ["vp", "subvp", "ve", "ve_sd"])
def test_euler_maruyama_is_euler_step_of_reverse_sde(kind):
    """x' = x - drift(x, t) h + diffusion(t) sqrt(h) z with ReverseSDE.sde_coefficients (score_sde's rsde.sde)."""
    spec = SPECS[kind]
    sde = spec.make()
    rsde = sde.reverse(DATA.score_fn(spec, BACKEND))
    x_np = _x_T(kind, 15)
    z = np.random.default_rng(16).standard_normal((N, BATCH, 2))
    ts = np.linspace(sde.T, EPS, N + 1)
    x = _arr(x_np)
    for k, t in enumerate(_grid_times(sde, N)[:-1]):
        h = float(ts[k] - ts[k + 1])
        drift, g = rsde.sde_coefficients(x, t)
        x = x - drift * h + g * math.sqrt(h) * _arr(z[k])
    _close(_run_sde(kind, "euler_maruyama", x_np, z), _np(x), rtol=1e-11)


# ---------------------------------------------------------------------------------------------------
# Every level once: read the chain level of each update off the samplers' output (black box)
# ---------------------------------------------------------------------------------------------------

C_SCORE = 0.5  # the spy score is the constant C_SCORE, so every update moves x by a level-dependent amount


def _candidates(spec, update: str, x: float, t: float, n: int, snr: float) -> np.ndarray:
    """The output of one noise-free update from x at time t for every chain level i = 0..n-1 (score C_SCORE)."""
    c = C_SCORE
    if spec.is_ve:  # ancestral and reverse diffusion: x + G_i^2 s (the noise is zero here)
        return x + np.diff(spec.smld_var_table(n), prepend=0.0) * c  # G_i^2 = var_i - var_{i-1}, var_{-1} = 0
    b = spec.ddpm_betas(n)
    if update == "ancestral":
        return (x + b * c) / np.sqrt(1.0 - b)
    if update == "reverse_diffusion":
        return (2.0 - np.sqrt(1.0 - b)) * x + b * c  # x - (sqrt(1 - b) - 1) x + b s
    return x + 2.0 * (1.0 - b) * snr**2 * spec.var(t) * c  # annealed Langevin, e = 2 alpha_i (snr sigma_t)^2


def _identify(cands: np.ndarray, observed: float) -> int:
    """The unique level whose prediction matches ``observed``: closer than 1e-3 of the gap to the next."""
    err = np.abs(cands - observed)
    order = np.argsort(err)
    assert err[order[0]] < 1e-3 * err[order[1]], (observed, cands[order[:2]])
    return int(order[0])


@pytest.mark.parametrize(
    "kind,run",
    [
        ("vp", dict(method="ancestral")),
        ("vp", dict(method="reverse_diffusion")),
        ("ve", dict(method="ancestral")),
        ("ve_sd", dict(method="reverse_diffusion")),
        ("vp", dict(predictor=None, corrector="annealed_langevin", order="predictor_first")),
        ("subvp", dict(predictor=None, corrector="annealed_langevin", order="corrector_first")),
        ("vp", dict(predictor="ancestral", corrector="annealed_langevin", order="predictor_first")),
        ("vp", dict(predictor="reverse_diffusion", corrector="annealed_langevin", order="corrector_first")),
    ],
)
@pytest.mark.parametrize("n,eps", [(1000, 1e-3), (30, 0.2)])
def test_every_chain_level_is_used_exactly_once(kind, run, n, eps):
    """Over a run, the chain-based updates use each level 0..n-1 exactly once, in the order n - 1, ..., 0
    (predictor and corrector of step k alike), recovered from the samplers' states by matching each noise-free
    update against the predictions of all n levels (oracle tables).  On these grids floor(t_k (n - 1) / T)
    repeats a level and skips level 0, so the test fails for the old index."""
    spec = SPECS[kind]
    ts = grid(spec, n, eps)
    old = np.floor(ts[:-1] * (n - 1) / spec.T).astype(int)
    assert len(set(old.tolist())) < n and 0 not in old  # the case discriminates
    seen: list[tuple[float, float]] = []

    def spy(x, t):
        seen.append((float(_np(x)[0, 0]), float(t)))
        return 0.0 * x + C_SCORE

    x_T = _arr(np.ones((1, 1)))
    if "method" in run:
        updates = [run["method"]] * n
        x, _ = sample_sde(spy, spec.make(), x_T, n, eps=eps, noise=_arr(np.zeros((n, 1, 1))), **run)
    else:
        pred, order = run["predictor"], run["order"]
        step = ([pred] if pred else []) + ["corrector"]
        updates = (step if order == "predictor_first" else step[::-1]) * n
        x, _ = sample_pc(spy, spec.make(), x_T, n, eps=eps, snr=SNR, noise=_arr(np.zeros((n, 2, 1, 1))), **run)
    states = [s for s, _ in seen] + [float(_np(x)[0, 0])]
    levels = [_identify(_candidates(spec, u, states[j], seen[j][1], n, SNR), states[j + 1]) for j, u in enumerate(updates)]
    per_step = len(updates) // n
    expected = [n - 1 - k for k in range(n) for _ in range(per_step)]
    assert levels == expected
    chain_levels = levels[::per_step]
    assert sorted(chain_levels) == list(range(n))  # each level exactly once
