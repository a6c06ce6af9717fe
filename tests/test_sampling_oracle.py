"""Independent float64 NumPy oracle for the sampler tests, and its own checks.

Nothing here calls refsde's math: the SDE coefficients are written from their closed forms (Song et al.
2021, App. B; VE in both marginal conventions), the discrete chains from score_sde's definitions, and
every sampler update is an affine map of x and the score.

Discrete chains (score_sde's, with N = n_steps levels): DDPM betas linspace(beta_min T / N,
beta_max T / N, N) (score_sde's ``discrete_betas`` for T = 1) and SMLD variances std(t_i)^2 on
t_i = i T / (N - 1) (score_sde's ``discrete_sigmas``, squared, in the SDE's convention).  score_sde's
sampler runs them on linspace(T, eps, N), whose k-th time has index floor(t (N - 1) / T) = N - 1 - k:
levels N - 1, ..., 0, once each.  Grid step k of a refsde sampler uses the same level N - 1 - k, so
the oracle indexes the chain by step, never by time.  For Gaussian data N(mu, diag(v)) the
marginal is p_t = N(alpha_t mu, diag(S_t)) with S_t = alpha_t^2 v + sigma_t^2 and the score is
s(x, t) = -(x - alpha_t mu) / S_t, linear in x, so each sampler update x' = P x + Q s(x, t) + C z
becomes x' = A x + B + C z per coordinate with A = P - Q / S_t and B = Q alpha_t mu / S_t, and the law
of the output is propagated exactly by m' = A m + B, v' = A^2 v + C^2.

The other sampler test modules import this one (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pytest

import refsde

# ---------------------------------------------------------------------------------------------------
# SDE closed forms (float64, scalar t)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One forward SDE, by kind: "vp", "subvp", "ve" (exact marginal) or "ve_sd" (score_sde's)."""

    kind: str
    beta_min: float = 0.1
    beta_max: float = 20.0
    sigma_min: float = 0.01
    sigma_max: float = 50.0
    T: float = 1.0

    def make(self) -> refsde.SDE:
        if self.kind == "vp":
            return refsde.VPSDE(self.beta_min, self.beta_max, T=self.T)
        if self.kind == "subvp":
            return refsde.SubVPSDE(self.beta_min, self.beta_max, T=self.T)
        conv = "exact" if self.kind == "ve" else "score_sde"
        return refsde.VESDE(self.sigma_min, self.sigma_max, T=self.T, convention=conv)

    @property
    def is_ve(self) -> bool:
        return self.kind in ("ve", "ve_sd")

    # -- linear beta schedule: beta(t) = b0 + (b1 - b0) t / T, B(t) = int_0^t beta
    def beta(self, t: float) -> float:
        return self.beta_min + (self.beta_max - self.beta_min) * t / self.T

    def B(self, t: float) -> float:
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t / self.T

    # -- VE noise level sigma(t) = s0 (s1/s0)^(t/T)
    def noise_level(self, t: float) -> float:
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** (t / self.T)

    def alpha(self, t: float) -> float:
        return 1.0 if self.is_ve else math.exp(-0.5 * self.B(t))

    def var(self, t: float) -> float:
        """sigma_t^2, the variance of q(x_t | x_0)."""
        if self.kind == "vp":
            return -math.expm1(-self.B(t))
        if self.kind == "subvp":
            return math.expm1(-self.B(t)) ** 2
        if self.kind == "ve":
            return self.sigma_min**2 * math.expm1(2.0 * math.log(self.sigma_max / self.sigma_min) * t / self.T)
        return self.noise_level(t) ** 2

    def f(self, t: float) -> float:
        return 0.0 if self.is_ve else -0.5 * self.beta(t)

    def g2(self, t: float) -> float:
        if self.kind == "vp":
            return self.beta(t)
        if self.kind == "subvp":
            return self.beta(t) * -math.expm1(-2.0 * self.B(t))
        return 2.0 * math.log(self.sigma_max / self.sigma_min) / self.T * self.noise_level(t) ** 2

    def prior_var(self) -> float:
        if self.kind in ("vp", "subvp"):
            return 1.0
        if self.kind == "ve":
            return self.sigma_max**2 - self.sigma_min**2
        return self.sigma_max**2

    # -- score_sde's discrete chains with N levels i = 0..N-1; grid step k uses level N - 1 - k
    def ddpm_betas(self, N: int) -> np.ndarray:
        """score_sde's discrete_betas = linspace(beta_min / N, beta_max / N, N), times T for T != 1."""
        return np.linspace(self.beta_min * self.T / N, self.beta_max * self.T / N, N)

    def smld_var_table(self, N: int) -> np.ndarray:
        """var_i = std(t_i)^2 on t_i = i T / (N - 1), i = 0..N-1: score_sde's discrete_sigmas^2 (ve_sd), or
        discrete_sigmas^2 - sigma_min^2 written with expm1 (ve, the exact marginal)."""
        s = np.arange(N) / (N - 1)  # t_i / T
        L = math.log(self.sigma_max / self.sigma_min)
        if self.kind == "ve":
            return self.sigma_min**2 * np.expm1(2.0 * L * s)  # sigma_min^2 ((smax/smin)^(2 s) - 1)
        return (self.sigma_min * np.exp(L * s)) ** 2  # discrete_sigmas[i]^2

    def ddpm_beta(self, level: int, N: int) -> float:
        return float(self.ddpm_betas(N)[level])

    def smld_vars(self, level: int, N: int) -> tuple[float, float]:
        """(var_i, var_{i-1}) with var_{-1} = 0."""
        table = self.smld_var_table(N)
        return float(table[level]), (float(table[level - 1]) if level >= 1 else 0.0)

    def chain_step(self, t: float, N: int, level: int) -> tuple[float, float]:
        """(c, G^2) of the forward chain x_{i+1} = x_i + c x_i + G z at level i (sub-VP: at time t)."""
        if self.kind == "vp":
            b = self.ddpm_beta(level, N)
            return math.sqrt(1.0 - b) - 1.0, b
        if self.kind == "subvp":  # Euler-Maruyama with dt = T / N at t itself
            return self.f(t) * self.T / N, self.g2(t) * self.T / N
        var_i, var_prev = self.smld_vars(level, N)
        return 0.0, var_i - var_prev

    def corrector_alpha(self, level: int, N: int) -> float:
        return 1.0 - self.ddpm_beta(level, N) if self.kind in ("vp", "subvp") else 1.0


VP, SUBVP, VE, VE_SD = Spec("vp"), Spec("subvp"), Spec("ve"), Spec("ve_sd")
SPECS = {"vp": VP, "subvp": SUBVP, "ve": VE, "ve_sd": VE_SD}


# ---------------------------------------------------------------------------------------------------
# Gaussian data and its exact score (the array-API function handed to the samplers)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    """Diagonal Gaussian data N(mu, diag(v)), d = len(mu)."""

    mu: tuple[float, ...]
    v: tuple[float, ...]

    @property
    def mu_np(self) -> np.ndarray:
        return np.asarray(self.mu, dtype=np.float64)

    @property
    def v_np(self) -> np.ndarray:
        return np.asarray(self.v, dtype=np.float64)

    def S(self, spec: Spec, t: float) -> np.ndarray:
        """Marginal variance per coordinate S_t = alpha_t^2 v + sigma_t^2."""
        return spec.alpha(t) ** 2 * self.v_np + spec.var(t)

    def score_fn(self, spec: Spec, backend: refsde.backends.Backend):
        """Exact score -(x - alpha_t mu) / S_t for x of shape (n, d) on ``backend``, t a 0-d array."""
        mu = backend.asarray(self.mu_np)
        v = backend.asarray(self.v_np)
        sde = spec.make()

        def score(x, t):
            a, s = sde.marginal_coefficients(t)
            return -(x - a * mu) / (a * a * v + s * s)

        return score

    def flow_map(self, spec: Spec, t_from: float, t_to: float, x: np.ndarray) -> np.ndarray:
        """Exact PF-ODE map: alpha_to mu + sqrt(S_to / S_from) (x - alpha_from mu), per coordinate."""
        a0, a1 = spec.alpha(t_from), spec.alpha(t_to)
        return a1 * self.mu_np + np.sqrt(self.S(spec, t_to) / self.S(spec, t_from)) * (x - a0 * self.mu_np)


DATA = Data(mu=(0.5, -1.0), v=(0.25, 2.0))


# ---------------------------------------------------------------------------------------------------
# Sampler updates as affine maps: x' = P x + Q s(x, t_s) + C z
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Update:
    P: float
    Q: float
    C: float
    t_s: float  # time at which the score is evaluated


def grid(spec: Spec, n: int, eps: float) -> np.ndarray:
    return np.linspace(spec.T, eps, n + 1)


def chain_level(n: int, k: int) -> int:
    """The chain level of grid step k: N - 1 - k with N = n (score_sde visits N - 1, ..., 0)."""
    return n - 1 - k


def predictor_update(spec: Spec, name: str, t: float, h: float, N: int, level: int | None = None) -> Update:
    """The predictor of the grid step at time t (step h); the chain methods need the step's ``level``."""
    if name == "euler_maruyama":  # x - (f x - g^2 s) h + g sqrt(h) z
        return Update(1.0 - spec.f(t) * h, spec.g2(t) * h, math.sqrt(spec.g2(t) * h), t)
    if level is None:
        raise ValueError(f"{name} runs the discrete chain: give the step's level")
    if name == "reverse_diffusion":  # x - c x + G^2 s + G z
        c, G2 = spec.chain_step(t, N, level)
        return Update(1.0 - c, G2, math.sqrt(G2), t)
    if name == "ancestral":
        if spec.kind == "vp":  # (x + b s) / sqrt(1 - b) + sqrt(b) z
            b = spec.ddpm_beta(level, N)
            return Update(1.0 / math.sqrt(1.0 - b), b / math.sqrt(1.0 - b), math.sqrt(b), t)
        var_i, var_prev = spec.smld_vars(level, N)  # x + (var_i - var_prev) s + sqrt(var_prev dvar / var_i) z
        dvar = var_i - var_prev
        return Update(1.0, dvar, math.sqrt(var_prev * dvar / var_i) if var_i > 0 else 0.0, t)
    raise KeyError(name)


def annealed_update(spec: Spec, t: float, N: int, snr: float, level: int) -> Update:
    e = 2.0 * spec.corrector_alpha(level, N) * snr**2 * spec.var(t)  # e = 2 alpha_i (snr sigma_t)^2
    return Update(1.0, e, math.sqrt(2.0 * e), t)


def tweedie_update(spec: Spec, eps: float) -> Update:
    a = spec.alpha(eps)
    return Update(1.0 / a, spec.var(eps) / a, 0.0, eps)


def sde_updates(spec: Spec, method: str, n: int, eps: float, last_step_noise=True, denoise=False) -> list[Update]:
    ts = grid(spec, n, eps)
    ups = [predictor_update(spec, method, ts[k], ts[k] - ts[k + 1], n, chain_level(n, k)) for k in range(n)]
    if not last_step_noise:
        ups[-1] = Update(ups[-1].P, ups[-1].Q, 0.0, ups[-1].t_s)
    if denoise:
        ups.append(tweedie_update(spec, eps))
    return ups


def pc_updates(
    spec: Spec,
    predictor: str,
    n: int,
    eps: float,
    *,
    snr: float,
    m: int,
    order: str,
    last_step_noise=True,
    denoise=False,
    corrector_update=annealed_update,
) -> list[Update]:
    ts = grid(spec, n, eps)
    ups: list[Update] = []
    for k in range(n):
        i = chain_level(n, k)  # predictor and correctors of step k share level n - 1 - k
        p = [predictor_update(spec, predictor, ts[k], ts[k] - ts[k + 1], n, i)]
        t_c = ts[k + 1] if order == "predictor_first" else ts[k]
        c = [corrector_update(spec, t_c, n, snr, i) for _ in range(m)]
        ups += p + c if order == "predictor_first" else c + p
    if not last_step_noise:
        ups[-1] = Update(ups[-1].P, ups[-1].Q, 0.0, ups[-1].t_s)
    if denoise:
        ups.append(tweedie_update(spec, eps))
    return ups


def affine(spec: Spec, data: Data, u: Update) -> tuple[np.ndarray, np.ndarray, float]:
    """(A, B, C): x' = A x + B + C z per coordinate for the exact Gaussian score."""
    S = data.S(spec, u.t_s)
    a = spec.alpha(u.t_s)
    return u.P - u.Q / S, u.Q * a * data.mu_np / S, u.C


def propagate_law(spec: Spec, data: Data, updates: list[Update], m0=None, v0=None) -> tuple[np.ndarray, np.ndarray]:
    """Exact (mean, variance) per coordinate after ``updates`` from N(m0, v0) (default: the prior)."""
    d = len(data.mu)
    m = np.zeros(d) if m0 is None else np.asarray(m0, dtype=np.float64).copy()
    v = np.full(d, spec.prior_var()) if v0 is None else np.asarray(v0, dtype=np.float64).copy()
    for u in updates:
        A, B, C = affine(spec, data, u)
        m, v = A * m + B, A * A * v + C * C  # m' = A m + B, v' = A^2 v + C^2
    return m, v


def propagate_paths(spec: Spec, data: Data, updates: list[Update], x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The same recursion applied path by path: x of shape (n, d), z of shape (len(updates), n, d)."""
    for k, u in enumerate(updates):
        A, B, C = affine(spec, data, u)
        x = A * x + B + (C * z[k] if C else 0.0)
    return x


# ---------------------------------------------------------------------------------------------------
# The PF ODE: F(x, t) = lam(t) x + kap(t) per coordinate; the schemes composed on affine maps of x_T
# ---------------------------------------------------------------------------------------------------


class Affine:
    """x = a x_T + b per coordinate (a, b arrays of shape (d,))."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b = a, b

    def __add__(self, other: "Affine") -> "Affine":
        return Affine(self.a + other.a, self.b + other.b)

    def __rmul__(self, c: float) -> "Affine":
        return Affine(c * self.a, c * self.b)

    def __sub__(self, other: "Affine") -> "Affine":
        return self + (-1.0) * other


def pf_drift(spec: Spec, data: Data, x: Affine, t: float) -> Affine:
    """F(x, t) = f x - g^2 s / 2 = (f + g^2 / (2 S)) x - g^2 alpha mu / (2 S) for the exact score."""
    S = data.S(spec, t)
    lam = spec.f(t) + 0.5 * spec.g2(t) / S
    kap = -0.5 * spec.g2(t) * spec.alpha(t) * data.mu_np / S
    return Affine(lam * x.a, lam * x.b + kap)


def ode_affine(spec: Spec, data: Data, method: str, n: int, eps: float) -> Affine:
    """The sampler's map x_T -> x_eps as an affine map (exact for the linear drift)."""
    d = len(data.mu)
    x = Affine(np.ones(d), np.zeros(d))
    ts = grid(spec, n, eps)
    F = lambda y, t: pf_drift(spec, data, y, t)  # noqa: E731
    for k in range(n):
        t, h = ts[k], ts[k] - ts[k + 1]
        if method == "euler":
            x = x - h * F(x, t)
        elif method == "heun":
            k1 = F(x, t)
            k2 = F(x - h * k1, t - h)
            x = x - (0.5 * h) * (k1 + k2)
        else:
            k1 = F(x, t)
            k2 = F(x - (0.5 * h) * k1, t - 0.5 * h)
            k3 = F(x - (0.5 * h) * k2, t - 0.5 * h)
            k4 = F(x - h * k3, t - h)
            x = x - (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return x


# ---------------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------------


def z_two_sided(alpha: float) -> float:
    """Critical value of a two-sided standard normal test at level alpha."""
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


def mean_z(x: np.ndarray, m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Standardized mean (xbar - m) / sqrt(v / N) per coordinate: exactly N(0, 1) for Gaussian samples."""
    return (x.mean(axis=0) - m) / np.sqrt(v / x.shape[0])


def var_z(x: np.ndarray, m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Wilson-Hilferty normal approximation of Q = sum (x - m)^2 / v ~ chi^2_N (m, v the true law)."""
    N = x.shape[0]
    q = ((x - m) ** 2).sum(axis=0) / v
    return ((q / N) ** (1.0 / 3.0) - (1.0 - 2.0 / (9.0 * N))) / math.sqrt(2.0 / (9.0 * N))


# ---------------------------------------------------------------------------------------------------
# Checks of the oracle itself (deterministic)
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["vp", "subvp", "ve", "ve_sd"])
def test_closed_forms_match_refsde(kind):
    """The oracle's closed forms agree with refsde.sde (two independent write-ups of the same formulas)."""
    spec = SPECS[kind]
    sde = spec.make()
    be = refsde.get_backend("numpy", device="cpu")  # explicit: REFSDE_DEVICE=cuda would apply to numpy too
    for t in (1e-3, 0.1, 0.5, 0.9, 1.0):
        tt = be.asarray(t)
        a, s = sde.marginal_coefficients(tt)
        assert float(a) == pytest.approx(spec.alpha(t), rel=1e-12)
        assert float(s) ** 2 == pytest.approx(spec.var(t), rel=1e-12)
        assert float(sde.diffusion_squared(tt)) == pytest.approx(spec.g2(t), rel=1e-12)
        assert float(sde.drift_coefficient(tt)) == pytest.approx(spec.f(t), abs=1e-14)
    assert sde.prior_std**2 == pytest.approx(spec.prior_var(), rel=1e-12)


@pytest.mark.parametrize("kind", ["vp", "subvp", "ve", "ve_sd"])
def test_gaussian_marginal_solves_the_moment_odes(kind):
    """S_t = alpha_t^2 v + sigma_t^2 satisfies dS/dt = 2 f S + g^2, the forward moment equation, so the
    oracle's score and flow map describe the SDE's true marginals (central differences, h = 1e-5)."""
    spec = SPECS[kind]
    h = 1e-5
    for t in (0.05, 0.3, 0.7, 0.95):
        dS = (DATA.S(spec, t + h) - DATA.S(spec, t - h)) / (2 * h)
        np.testing.assert_allclose(dS, 2 * spec.f(t) * DATA.S(spec, t) + spec.g2(t), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["vp", "ve"])
def test_flow_map_solves_the_pf_ode(kind):
    """d/dt Phi_{T->t}(x) = F(Phi, t) for the exact flow map (central differences)."""
    spec = SPECS[kind]
    x = np.array([0.3, -2.0])
    h = 1e-6
    for t in (0.1, 0.5, 0.9):
        y = DATA.flow_map(spec, 1.0, t, x)
        dy = (DATA.flow_map(spec, 1.0, t + h, x) - DATA.flow_map(spec, 1.0, t - h, x)) / (2 * h)
        F = pf_drift(spec, DATA, Affine(np.zeros(2), y), t).b  # F at the point y (a = 0 keeps only b)
        np.testing.assert_allclose(dy, F, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("N", [25, 1000])
def test_chain_tables_are_score_sdes(N):
    """The oracle's chains are score_sde's arrays: discrete_betas = linspace(beta_min / N, beta_max / N, N)
    and discrete_sigmas = exp(linspace(log sigma_min, log sigma_max, N)) (T = 1), and their times are
    t_i = i T / (N - 1); score_sde's grid linspace(T, eps, N) maps to the levels N - 1, ..., 0."""
    np.testing.assert_allclose(VP.ddpm_betas(N), np.linspace(0.1 / N, 20.0 / N, N), rtol=1e-14)
    sig = np.exp(np.linspace(math.log(0.01), math.log(50.0), N))
    np.testing.assert_allclose(VE_SD.smld_var_table(N), sig**2, rtol=1e-12)
    np.testing.assert_allclose(VE.smld_var_table(N)[1:], sig[1:] ** 2 - 0.01**2, rtol=1e-10)
    assert VE.smld_var_table(N)[0] == 0.0
    for spec in (VP, VE, VE_SD):
        tab = spec.ddpm_betas(N) if spec is VP else spec.smld_var_table(N)
        t_i = np.arange(N) * spec.T / (N - 1)
        closed = [spec.beta(t) * spec.T / N if spec is VP else spec.var(t) for t in t_i]
        np.testing.assert_allclose(tab, closed, rtol=1e-12, atol=1e-300)
    T2 = Spec("vp", beta_min=0.3, beta_max=8.0, T=2.0)  # stretched schedule: beta(t_i) T / N
    np.testing.assert_allclose(T2.ddpm_betas(N), [T2.beta(i * 2.0 / (N - 1)) * 2.0 / N for i in range(N)], rtol=1e-13)
    # score_sde's sampler grid linspace(T, eps, N) visits floor(t (N - 1) / T) = N - 1 - k (eps < T / (N - 1))
    ts = np.linspace(1.0, 1e-3, N)
    np.testing.assert_array_equal(np.floor(ts * (N - 1)).astype(int), [chain_level(N, k) for k in range(N)])
