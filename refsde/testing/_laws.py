"""Exact laws and reference paths of the fixed-step samplers for Gaussian data, in host float64.

Data N(m, C) with C = Q diag(lam) Q^T.  Under a linear SDE, p_t = N(alpha_t m, S_t) with
S_t = alpha_t^2 C + sigma_t^2 I = Q diag(v_t) Q^T, v_t = alpha_t^2 lam + sigma_t^2, and the exact score
s(x, t) = -S_t^{-1} (x - alpha_t m).  In the eigen-coordinates y = Q^T x (with mt = Q^T m) every
sampler of refsde's conventions is a scalar affine recursion per coordinate j,

    y' = a_k,j y + b_k,j + c_k z,        z ~ N(0, 1) independent,

so a Gaussian start N(M, V) stays Gaussian: M' = a M + b, V' = a^2 V + c^2 (exact, no sampling).  The
prior pi = N(0, s_pi^2 I) is N(0, s_pi^2) in every eigen-coordinate.

Continuous reverse SDE (Anderson 1982; Song et al. 2021 eq. 6), started from pi at T rather than p_T.
In tau = T - t, per coordinate, with A(t) = f(t) + g(t)^2 / v_t:
    dM/dtau = -A M + g^2 alpha mt / v,    dV/dtau = -2 A V + g^2.
p_t itself solves these (v_t, alpha_t mt), since dv/dt = 2 f v + g^2.  The deviations D = V - v and
delta = M - alpha mt therefore obey dD/dtau = -2 A D, d delta/dtau = -A delta, and because
A = d log v/dt - d log alpha/dt, exp(-int_eps^T A dt) = (v_eps alpha_T) / (v_T alpha_eps) =: r, so

    V(eps) = v_eps + (s_pi^2 - v_T) r^2,       M(eps) = alpha_eps mt - alpha_T mt r.      (*)

(*) is verified against a fine numerical integration of the moment ODEs in the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..sde import VESDE, VPSDE

SDE_SCHEMES = ("euler_maruyama", "reverse_diffusion", "ancestral", "ddim")  # ddim: eta = 1
ODE_SCHEMES = ("euler", "heun", "rk4", "ddim")  # ddim: eta = 0


@dataclass(frozen=True)
class DataCase:
    """Gaussian data N(m, C) of dimension d with C = Q diag(lam) Q^T (host float64)."""

    m: np.ndarray  # (d,)
    lam: np.ndarray  # (d,)
    Q: np.ndarray  # (d, d), orthogonal, columns = eigenvectors

    @property
    def d(self) -> int:
        return int(self.m.shape[0])

    @property
    def cov(self) -> np.ndarray:
        return (self.Q * self.lam) @ self.Q.T

    @property
    def mt(self) -> np.ndarray:
        """The mean in eigen-coordinates, Q^T m."""
        return self.Q.T @ self.m


def default_case() -> DataCase:
    """The data the checks use: d = 3, eigenvalues (0.02, 0.5, 2) (a near-degenerate direction makes the
    last steps near eps matter), a fixed rotation and a non-zero mean."""
    a, b = 0.6, 0.35  # fixed rotation: product of two plane rotations (angles in radians)
    r1 = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    r2 = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(b), -math.sin(b)], [0.0, math.sin(b), math.cos(b)]])
    return DataCase(m=np.array([1.0, -0.5, 0.25]), lam=np.array([0.02, 0.5, 2.0]), Q=r1 @ r2)


def grid(T: float, n_steps: int, eps: float) -> np.ndarray:
    """t_k = linspace(T, eps, n_steps + 1) (the samplers' grid), host float64."""
    return np.linspace(T, eps, n_steps + 1)


def _h(ref: Any, method: str, t: np.ndarray) -> np.ndarray:
    return np.asarray(getattr(ref, method)(np.asarray(t, dtype=np.float64)), dtype=np.float64)


def schedule(ref: Any, t: np.ndarray) -> dict[str, np.ndarray]:
    """f(t), g(t)^2, alpha_t, sigma_t^2 of the reference SDE at host times t (arrays of t's shape)."""
    t = np.asarray(t, dtype=np.float64)
    sig = _h(ref, "sigma", t)
    return {
        "f": _h(ref, "drift_coefficient", t),
        "g2": _h(ref, "diffusion_squared", t),
        "alpha": _h(ref, "alpha", t),
        "sigma2": sig * sig,
    }


def variances(case: DataCase, alpha: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    """v_t = alpha_t^2 lam + sigma_t^2 per time and coordinate: shape (len(t), d)."""
    return alpha[:, None] ** 2 * case.lam[None, :] + sigma2[:, None]


def reverse_sde_law(ref: Any, case: DataCase, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean, var) per eigen-coordinate at eps of the exact reverse SDE started from the prior pi: eq. (*)."""
    sc = schedule(ref, np.array([float(ref.T), float(eps)]))
    v = variances(case, sc["alpha"], sc["sigma2"])
    v_T, v_e = v[0], v[1]
    a_T, a_e = sc["alpha"][0], sc["alpha"][1]
    r = (v_e / v_T) * (a_T / a_e)  # exp(-int_eps^T A dt), A = d log v/dt - d log alpha/dt
    s2 = float(ref.prior_std) ** 2
    return a_e * case.mt - a_T * case.mt * r, v_e + (s2 - v_T) * r * r  # eq. (*)


def flow_paths(ref: Any, case: DataCase, eps: float, y_T: np.ndarray) -> np.ndarray:
    """Exact probability-flow map Phi_{T->eps} in eigen-coordinates: y = alpha_eps mt + sqrt(v_eps / v_T)
    (y_T - alpha_T mt) (the PF ODE is linear; S_eps^{1/2} S_T^{-1/2} is diagonal there).  y_T: (n, d)."""
    sc = schedule(ref, np.array([float(ref.T), float(eps)]))
    v = variances(case, sc["alpha"], sc["sigma2"])
    return sc["alpha"][1] * case.mt + np.sqrt(v[1] / v[0]) * (y_T - sc["alpha"][0] * case.mt)


# ---- stochastic schemes: per-step affine coefficients (a, b, c) ------------------------------------------
def _chain_betas(ref: Any, N: int) -> np.ndarray:
    """DDPM beta_i = beta(t_i) T / N at chain times t_i = i T / (N - 1), i = 0..N-1 (Ho et al. 2020)."""
    t_i = np.arange(N) * (float(ref.T) / (N - 1))
    return _h(ref, "beta", t_i) * (float(ref.T) / N)


def _chain_vars(ref: Any, N: int) -> tuple[np.ndarray, np.ndarray]:
    """SMLD var_i = std(t_i)^2 at t_i = i T / (N - 1) and var_{i-1} (var_{-1} = 0), i = 0..N-1."""
    t_i = np.arange(N) * (float(ref.T) / (N - 1))
    var = _h(ref, "sigma", t_i) ** 2
    return var, np.concatenate([[0.0], var[:-1]])


def scheme_applies(ref: Any, method: str, n_steps: int) -> bool:
    """Whether refsde's conventions define ``method`` for ``ref`` at ``n_steps`` (chains need N >= 2 and,
    for DDPM, beta_max T / N < 1; ancestral only for VP and VE)."""
    if method in ("euler_maruyama", "ddim"):
        return True
    if n_steps < 2:
        return False
    if method == "ancestral" and not isinstance(ref, (VPSDE, VESDE)):
        return False
    if isinstance(ref, VPSDE) and ref.beta_max * ref.T / n_steps >= 1.0:
        return False
    return method in SDE_SCHEMES


Coefficients = tuple[np.ndarray, np.ndarray, np.ndarray]


def sde_step_coefficients(ref: Any, case: DataCase, method: str, n_steps: int, eps: float) -> Coefficients:
    """(a (K, d), b (K, d), c (K,)) of step k: y' = a y + b + c z, on refsde's grid and chain convention.

    With s = -(y - alpha mt) / v at the grid time t_k (left end) and h = t_k - t_{k+1}:
    * euler_maruyama: y' = y - (f y - g^2 s) h + g sqrt(h) z  (Song et al. eq. 6, Euler);
    * reverse_diffusion: y' = y - phi_i y + G_i^2 s + G_i z at chain level i = N - 1 - k, N = n_steps:
      VP: phi_i = sqrt(1 - beta_i) - 1, G_i^2 = beta_i; VE: phi_i = 0, G_i^2 = var_i - var_{i-1};
      otherwise Euler-Maruyama with the chain's step T / N: phi = f(t_k) T / N, G^2 = g^2(t_k) T / N;
    * ancestral: VP y' = (y + beta_i s) / sqrt(1 - beta_i) + sqrt(beta_i) z;
      VE y' = y + (var_i - var_{i-1}) s + sqrt(var_{i-1} (var_i - var_{i-1}) / var_i) z.
    """
    if method == "ddim":
        return ddim_coefficients(ref, case, n_steps, eps, 1.0)
    t = grid(float(ref.T), n_steps, eps)
    tk, h = t[:-1], t[:-1] - t[1:]
    sc = schedule(ref, tk)
    v = variances(case, sc["alpha"], sc["sigma2"])  # (K, d)
    am = sc["alpha"][:, None] * case.mt[None, :]  # alpha_t mt, (K, d)
    level = n_steps - 1 - np.arange(n_steps)  # chain level of step k
    if method == "euler_maruyama":
        w = sc["g2"] * h  # g^2 h
        a = 1.0 - (sc["f"] * h)[:, None] - w[:, None] / v
        return a, w[:, None] * am / v, np.sqrt(w)
    if method == "reverse_diffusion":
        if isinstance(ref, VPSDE):
            beta = _chain_betas(ref, n_steps)[level]
            phi, G2 = np.sqrt(1.0 - beta) - 1.0, beta
        elif isinstance(ref, VESDE):
            var, prev = _chain_vars(ref, n_steps)
            phi, G2 = np.zeros(n_steps), (var - prev)[level]
        else:
            dt = float(ref.T) / n_steps
            phi, G2 = sc["f"] * dt, sc["g2"] * dt
        a = 1.0 - phi[:, None] - G2[:, None] / v
        return a, G2[:, None] * am / v, np.sqrt(G2)
    if method == "ancestral":
        if isinstance(ref, VPSDE):
            beta = _chain_betas(ref, n_steps)[level]
            q = 1.0 / np.sqrt(1.0 - beta)
            a = q[:, None] * (1.0 - beta[:, None] / v)
            return a, (q * beta)[:, None] * am / v, np.sqrt(beta)
        var, prev = _chain_vars(ref, n_steps)
        var, prev = var[level], prev[level]
        dv = var - prev
        c2 = np.where(var > 0.0, prev * dv / np.where(var > 0.0, var, 1.0), 0.0)
        return 1.0 - dv[:, None] / v, dv[:, None] * am / v, np.sqrt(c2)
    raise ValueError(f"unknown stochastic scheme {method!r}; expected one of {SDE_SCHEMES}")


def scheme_law(
    ref: Any, case: DataCase, method: str, n_steps: int, eps: float, *, noise_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (mean, var) per eigen-coordinate after n_steps of ``method`` from pi: M' = a M + b, V' = a^2 V + c^2
    (``noise_scale`` multiplies c: the law of a scheme whose noise is off by that factor)."""
    a, b, c = sde_step_coefficients(ref, case, method, n_steps, eps)
    c = noise_scale * c
    M = np.zeros(case.d)
    V = np.full(case.d, float(ref.prior_std) ** 2)
    for k in range(n_steps):
        M = a[k] * M + b[k]
        V = a[k] * a[k] * V + c[k] * c[k]
    return M, V


def ddim_coefficients(ref: Any, case: DataCase, n_steps: int, eps: float, eta: float) -> Coefficients:
    """(a, b, c) of DDIM (Song, Meng & Ermon 2021, eq. 12) from t = t_k to s = t_{k+1} on linspace(T, eps, n + 1):

        y_s = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z,   x0_hat = (y - sigma_t eps_hat) / alpha_t,
        eps_hat = -sigma_t s(y, t) = sigma_t (y - alpha_t mt) / v_t,   c = eta sigma_s sqrt(1 - e^{-2h}),

    h = lambda_s - lambda_t, lambda = log(alpha / sigma).  So y_s = (alpha_s / alpha_t) y + D eps_hat + c z with
    D = sqrt(sigma_s^2 - c^2) - sigma_s e^h = sigma_s (rho - 1 - expm1(h)), rho = sqrt(1 - eta^2 (1 - e^{-2h})),
    rho - 1 = -eta^2 (1 - e^{-2h}) / (1 + rho) (no cancellation)."""
    t = grid(float(ref.T), n_steps, eps)
    sc_t, sc_s = schedule(ref, t[:-1]), schedule(ref, t[1:])
    lam = 0.5 * _h(ref, "log_snr", t)  # half log-SNR log(alpha / sigma)
    h = lam[1:] - lam[:-1]
    one_minus = -np.expm1(-2.0 * h)  # 1 - e^{-2h}
    rho = np.sqrt(1.0 - eta * eta * one_minus)
    sig_t, sig_s = np.sqrt(sc_t["sigma2"]), np.sqrt(sc_s["sigma2"])
    D = sig_s * (-eta * eta * one_minus / (1.0 + rho) - np.expm1(h))
    v = variances(case, sc_t["alpha"], sc_t["sigma2"])
    q = (D * sig_t)[:, None] / v  # eps_hat = sigma_t (y - alpha_t mt) / v_t
    a = (sc_s["alpha"] / sc_t["alpha"])[:, None] + q
    b = -q * sc_t["alpha"][:, None] * case.mt[None, :]
    return a, b, eta * sig_s * np.sqrt(one_minus)


# ---- deterministic schemes: reference paths ------------------------------------------------------------
def ode_paths(ref: Any, case: DataCase, method: str, n_steps: int, eps: float, y_T: np.ndarray) -> np.ndarray:
    """The PF-ODE scheme ``method`` (euler / heun / rk4; ddim = DDIM with eta = 0) run in eigen-coordinates
    with the exact score, on linspace(T, eps, n_steps + 1), backwards: F(y, t) = f y - g^2 s / 2 (Song et al. eq. 13),
    Euler y' = y - h F(y, t); Heun y' = y - h (F(y, t) + F(y - h F(y, t), t - h)) / 2; RK4 with the
    stage times t, t - h/2, t - h/2, t - h and weights 1/6, 1/3, 1/3, 1/6."""
    if method not in ODE_SCHEMES:
        raise ValueError(f"unknown deterministic scheme {method!r}; expected one of {ODE_SCHEMES}")
    if method == "ddim":
        a, b, _ = ddim_coefficients(ref, case, n_steps, eps, 0.0)
        y = np.array(y_T, dtype=np.float64)
        for k in range(n_steps):
            y = a[k] * y + b[k]
        return y
    t = grid(float(ref.T), n_steps, eps)

    def F(y: np.ndarray, tt: float) -> np.ndarray:
        sc = schedule(ref, np.array([tt]))
        v = variances(case, sc["alpha"], sc["sigma2"])[0]
        s = -(y - sc["alpha"][0] * case.mt) / v  # exact score in eigen-coordinates
        return sc["f"][0] * y - 0.5 * sc["g2"][0] * s

    y = np.array(y_T, dtype=np.float64)
    for k in range(n_steps):
        tk, h = float(t[k]), float(t[k] - t[k + 1])
        if method == "euler":
            y = y - h * F(y, tk)
        elif method == "heun":
            k1 = F(y, tk)
            k2 = F(y - h * k1, tk - h)
            y = y - 0.5 * h * (k1 + k2)
        else:
            k1 = F(y, tk)
            k2 = F(y - 0.5 * h * k1, tk - 0.5 * h)
            k3 = F(y - 0.5 * h * k2, tk - 0.5 * h)
            k4 = F(y - h * k3, tk - h)
            y = y - (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return y


__all__ = [
    "DataCase", "ddim_coefficients", "default_case", "flow_paths", "ode_paths", "reverse_sde_law", "scheme_law",
    "sde_step_coefficients",
]
