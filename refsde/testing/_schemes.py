"""The sampler schemes the conformance checks know, each written once, and what the checks compute from them.

Data N(m, C) with C = Q diag(lam) Q^T (:mod:`refsde.testing._cases`); under a linear SDE p_t = N(alpha_t m, S_t)
with S_t = Q diag(v_t) Q^T, v_t = alpha_t^2 lam + sigma_t^2, and the exact score in the eigen-coordinates
y = Q^T x is s_j(y, t) = -(y_j - alpha_t mt_j) / v_t,j (mt = Q^T m).  Every scheme below, fed this score, is
an affine map of the state and its noise per coordinate, step by step:

    y_{k+1} = a_k y_k + b_k + sum_i c_k,i z_i,        z_i ~ N(0, 1) independent,

so its output law from x_T ~ pi = N(0, s_pi^2 I) is Gaussian and exact (no sampling): M' = a M + b,
V' = a^2 V + sum_i c_i^2 (:func:`scheme_law`); a deterministic scheme is run path by path on the check's own
x_T (:func:`scheme_paths`).  The same step function, run in :class:`Bound` arithmetic, gives the rounding
budget of a candidate in a given dtype (:func:`rounding_budget`).

A step is ``step(c, k, y, z) -> y'`` with ``c`` a :class:`Run` (the grid nodes, the score, the options),
``y`` the state in eigen-coordinates (an array (P, D), or a :class:`Bound`) and ``z`` the list of the step's
standard normal draws (each like y; empty for deterministic steps).  The formulas are written from the
papers cited at each step, independently of :mod:`refsde.sampling` (whose samplers the checks judge).

Conventions shared by every scheme: the candidate's grid t_0 > t_1 > ... > t_n (in the reference's time),
step k from t_k to t_{k+1}; ``final``: "none" (output at t_n), "mean" (the last update without its noise:
score_sde's ``denoise=True``) or "denoise" (Tweedie's E[x_0 | x_{t_n}] = (y + sigma^2 s) / alpha after the
last step, which is also the limit of a first-order step to sigma = 0: EDM's and k-diffusion's last Euler
step, DDPM's and DDIM's last step to alpha-bar = 1).  Sigma-space schemes (EDM, k-diffusion, diffusers'
Euler / Heun) use x~ = x / alpha_t and sigma~_t = sigma_t / alpha_t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..sde import SubVPSDE, VESDE, VPSDE
from .errors import hide_from_pytest

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames


# ---- running error arithmetic ------------------------------------------------------------------------------------
class Bound:
    """A value with a first-order bound on its absolute rounding error, for running error analysis (Wilkinson;
    Higham 2002, sec. 3.3): every operation adds u |result| and propagates the operands' bounds.

    ``u`` is the unit roundoff of the candidate's dtype.  A Python float or array operand is exact (the
    check's own numbers); node coefficients enter as Bounds with a relative error of one rounding.
    """

    __slots__ = ("v", "e", "u")
    __array_ufunc__ = None  # ndarray (op) Bound defers to Bound's reflected operators

    def __init__(self, v: Any, e: Any, u: float) -> None:
        self.v, self.e, self.u = v, e, u

    @staticmethod
    def _parts(x: Any) -> tuple[Any, Any]:
        return (x.v, x.e) if isinstance(x, Bound) else (x, 0.0)

    def _new(self, v: Any, e: Any) -> "Bound":
        return Bound(v, e + self.u * np.abs(v), self.u)

    def __add__(self, o: Any) -> "Bound":
        v, e = self._parts(o)
        return self._new(self.v + v, self.e + e)

    __radd__ = __add__

    def __sub__(self, o: Any) -> "Bound":
        v, e = self._parts(o)
        return self._new(self.v - v, self.e + e)

    def __rsub__(self, o: Any) -> "Bound":
        v, e = self._parts(o)
        return self._new(v - self.v, self.e + e)

    def __neg__(self) -> "Bound":
        return Bound(-self.v, self.e, self.u)

    def __mul__(self, o: Any) -> "Bound":
        v, e = self._parts(o)
        return self._new(self.v * v, np.abs(self.v) * e + np.abs(v) * self.e + self.e * e)

    __rmul__ = __mul__

    def __truediv__(self, o: Any) -> "Bound":
        v, e = self._parts(o)
        q = self.v / v
        return self._new(q, (self.e + np.abs(q) * e) / np.abs(v))

    def __rtruediv__(self, o: Any) -> "Bound":
        v, e = self._parts(o)
        q = v / self.v
        return self._new(q, (e + np.abs(q) * self.e) / np.abs(self.v))


class Math:
    """exp, expm1, sqrt, log, phi_2, phi_3 on floats / arrays (exact arithmetic, float64) and on Bounds."""

    @staticmethod
    def _apply(x: Any, f: Callable[[Any], Any], df: Callable[[Any], Any]) -> Any:
        if isinstance(x, Bound):
            v = f(x.v)
            return Bound(v, np.abs(df(x.v)) * x.e + x.u * np.abs(v), x.u)
        return f(x)

    def exp(self, x: Any) -> Any:
        return self._apply(x, np.exp, np.exp)

    def expm1(self, x: Any) -> Any:
        return self._apply(x, np.expm1, np.exp)

    def sqrt(self, x: Any) -> Any:
        return self._apply(x, np.sqrt, lambda v: 0.5 / np.sqrt(v))

    def log(self, x: Any) -> Any:
        return self._apply(x, np.log, lambda v: 1.0 / v)

    def phi2(self, x: Any) -> Any:
        """(e^x - 1 - x) / x^2, by its series where the quotient cancels."""
        return self._apply(x, _phi2, lambda v: _phi3(v) * 0.0 + 1.0 / 6.0 + v / 12.0)

    def phi3(self, x: Any) -> Any:
        """(e^x - 1 - x - x^2 / 2) / x^3, by its series where the quotient cancels."""
        return self._apply(x, _phi3, lambda v: 1.0 / 24.0 + v / 60.0)


def _phi2(h: Any) -> Any:
    h = np.asarray(h, dtype=np.float64)
    small = np.abs(h) < 0.2
    hs = np.where(small, h, 1.0)
    series = sum(hs**k / math.factorial(k + 2) for k in range(12))
    safe = np.where(small, 1.0, h)
    return np.where(small, series, (np.expm1(safe) - safe) / (safe * safe))


def _phi3(h: Any) -> Any:
    h = np.asarray(h, dtype=np.float64)
    small = np.abs(h) < 0.2
    hs = np.where(small, h, 1.0)
    series = sum(hs**k / math.factorial(k + 3) for k in range(12))
    safe = np.where(small, 1.0, h)
    return np.where(small, series, (np.expm1(safe) - safe - 0.5 * safe * safe) / (safe * safe * safe))


M = Math()


# ---- the reference's schedule at host times ---------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    """The reference schedule at one time t (float64): alpha, sigma, lam = log(alpha / sigma) (half log-SNR),
    the EDM noise level sig = sigma / alpha, f, g^2 (f, g2 NaN where the scheme does not need them)."""

    t: float
    alpha: float
    sigma: float
    lam: float
    sig: float
    f: float
    g2: float


def node_at(ref: Any, t: float, need_drift: bool = True) -> Node:
    """The :class:`Node` of ``ref`` at time t >= 0, beyond T where the reference's closed forms extend
    (ValueError otherwise)."""
    arr = np.asarray([float(t)], dtype=np.float64)
    if t <= ref.T:
        alpha, sigma = (float(a[0]) for a in ref.marginal_coefficients(arr))
    else:
        alpha, sigma = (float(np.asarray(a)[0]) for a in ref._extended_marginal(arr))
    f = g2 = math.nan
    if need_drift:
        f, g2 = float(np.asarray(ref._drift_coef(arr))[0]), float(np.asarray(ref._g2(arr))[0])
    lam = math.log(alpha / sigma) if sigma > 0 else math.inf
    return Node(float(t), alpha, sigma, lam, sigma / alpha, f, g2)


def t_of_lam(ref: Any, lam: float) -> float:
    """The time of half log-SNR ``lam`` (the log-SNR is 2 lam), beyond T where the closed form extends."""
    if lam == math.inf:
        return 0.0
    t = float(np.asarray(ref._t_from_log_snr(np.asarray([2.0 * lam], dtype=np.float64)))[0])
    if not (math.isfinite(t) and t >= -1e-12 * ref.T):
        raise ValueError(f"no time of the reference has half log-SNR {lam}")
    return max(t, 0.0)


def t_of_sigma(ref: Any, sig: float) -> float:
    """The time of EDM noise level sig = sigma_t / alpha_t."""
    return 0.0 if sig == 0.0 else t_of_lam(ref, -math.log(sig))


# ---- one run of a scheme on a grid ---------------------------------------------------------------------------------
@dataclass
class Run:
    """What a step sees: the grid nodes, the score in eigen-coordinates, the chain, the options, and memory.

    In budget mode (``u`` > 0) node coefficients are :class:`Bound` s with a relative error of one rounding,
    the score adds the rounding of its own evaluation and of the candidate's time, and states are Bounds.
    """

    ref: Any
    mt: np.ndarray  # (D,) mean in eigen-coordinates
    lam_data: np.ndarray  # (D,) data eigenvalues
    times: list[float]
    options: dict[str, Any]
    levels: list[int] | None = None
    step_sizes: list[float] | None = None
    to_zero: bool = False  # the candidate's last step (to sigma = 0) is the final Tweedie step after t_n
    u: float = 0.0
    memory: dict[str, Any] = field(default_factory=dict)
    _nodes: dict[float, Node] = field(default_factory=dict)
    max_time: float = 0.0
    slip: str = ""  # a known slip to run instead of the scheme itself (SLIPS; the named causes of a failure)

    @property
    def n(self) -> int:
        return len(self.times) - 1

    def node(self, t: float) -> Node:
        if t not in self._nodes:
            self._nodes[t] = node_at(self.ref, t)
            self.max_time = max(self.max_time, t)
        return self._nodes[t]

    def grid_node(self, k: int) -> Node:
        if self.slip == "right_end":  # coefficients at the right end of each step
            return self.node(self.times[min(k + 1, self.n)])
        return self.node(self.times[k])

    def c(self, value: float) -> Any:
        """A node coefficient: exact, or with one rounding in budget mode."""
        return Bound(value, self.u * abs(value), self.u) if self.u > 0 and value == value else value

    def h(self, k: int) -> float:
        """The step size of step k: t_k - t_{k+1}, or the candidate's own ``step_sizes[k]``."""
        return self.step_sizes[k] if self.step_sizes is not None else self.times[k] - self.times[k + 1]

    def score(self, y: Any, node: Node) -> Any:
        """s(y, t) = -(y - alpha_t mt) / v_t (exact score in eigen-coordinates), shape of y; under a score slip
        what code with that slip evaluates instead."""
        if not self.slip.startswith("score_") and self.slip != "eps_as_score":
            return self._score(y, node)
        if self.slip in ("score_next", "score_prev") and node.t in self.times:
            k = self.times.index(node.t) + (1 if self.slip == "score_next" else -1)
            node = self.node(self.times[min(max(k, 0), self.n)])
        s = self._score(y, node)
        if self.slip == "score_sign":
            return -s
        if self.slip == "eps_as_score":  # a noise prediction eps = -sigma s passed where the score is expected
            return self.c(-node.sigma) * s
        return s

    def drift_g2(self, nd: Node) -> float:
        """g(t)^2 of the drift's score term (g(t) under the slip "g_for_g2")."""
        return math.sqrt(nd.g2) if self.slip == "g_for_g2" else nd.g2

    def gap(self, a: Node, b: Node) -> float:
        """The step from node a to node b of a multistep method: lam_b - lam_a (t_a - t_b under the slip
        "ratio_in_t": the step ratio computed in time instead of in log-SNR)."""
        return a.t - b.t if self.slip == "ratio_in_t" else b.lam - a.lam

    def ratio(self, p: Node, t: Node, s: Node) -> float:
        """A multistep method's step ratio r = h_prev / h (Lu et al. 2022b)."""
        return self.gap(p, t) / self.gap(t, s)

    def _score(self, y: Any, node: Node) -> Any:
        v = node.alpha**2 * self.lam_data + node.sigma**2
        if not isinstance(y, Bound):
            return -(y - node.alpha * self.mt) / v
        d = y.v - node.alpha * self.mt
        s = -d / v
        # the candidate's own evaluation: x - alpha m, two rotations and a division in its dtype (a few u of the
        # largest term, spread over the coordinates by the rotation), and its time t rounded once
        rot = 24.0 * y.u * np.max(np.abs(d), axis=-1, keepdims=True) / np.min(v)
        dt = max(abs(node.t), 1e-300) * 1e-6
        if node.t > dt:
            # ds/dt by a difference inside the reference's domain (one-sided at T: a table ends there)
            t_hi = node.t + dt if node.t + dt <= self.ref.T else node.t
            lo, hi = self.node(node.t - dt), self.node(t_hi)
            ds = (-(y.v - hi.alpha * self.mt) / (hi.alpha**2 * self.lam_data + hi.sigma**2)
                  + (y.v - lo.alpha * self.mt) / (lo.alpha**2 * self.lam_data + lo.sigma**2)) / (t_hi - lo.t)
            rot = rot + np.abs(ds) * y.u * node.t
        return Bound(s, y.e / v + rot + y.u * np.abs(s), y.u)

    def x0(self, y: Any, node: Node) -> Any:
        """x0_hat = (y + sigma^2 s) / alpha (Tweedie), the data prediction; under the slip "x0_next_sigma" the
        sigma-space D = x~ - sig eps with the next grid time's sig (an index off by one in the denoiser)."""
        if self.slip == "x0_next_sigma" and (node.t in self.times[:-1] or (self.to_zero and node.t == self.times[-1])):
            k = self.times.index(node.t)
            nxt_sig = self.node(self.times[k + 1]).sig if k < self.n else 0.0  # the step to sigma = 0 after t_n
            return y * self.c(1.0 / node.alpha) + self.c(nxt_sig * node.sigma) * self.score(y, node)
        return (y + self.c(node.sigma**2) * self.score(y, node)) * self.c(1.0 / node.alpha)

    def eps(self, y: Any, node: Node) -> Any:
        """eps_hat = -sigma s, the noise prediction."""
        return self.c(-node.sigma) * self.score(y, node)


Step = Callable[[Run, int, Any, list[Any]], Any]


# ---- chains of the discrete schemes ---------------------------------------------------------------------------------
def _chain(c: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(beta_i, var_i, var_{i-1}) of the N = n_steps chain at chain times t_i = i T / (N - 1): DDPM betas
    beta(t_i) T / N for the linear-beta SDEs (Ho et al. 2020), SMLD variances std(t_i)^2 (var_{-1} = 0)."""
    if "chain" not in c.memory:
        N = c.n
        T = float(c.ref.T)
        t_i = np.arange(N) * (T / (N - 1))
        beta = np.full(N, np.nan)
        if isinstance(c.ref, (VPSDE, SubVPSDE)):
            beta = np.asarray(c.ref.beta(t_i), dtype=np.float64) * (T / N)
        var = np.asarray(c.ref.sigma(t_i), dtype=np.float64) ** 2
        c.memory["chain"] = (beta, var, np.concatenate([[0.0], var[:-1]]))
    return c.memory["chain"]


def _level(c: Run, k: int) -> int:
    return c.levels[k] if c.levels is not None else c.n - 1 - k


# ---- stochastic schemes ---------------------------------------------------------------------------------------------
def euler_maruyama(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """y' = y - (f y - g^2 s) h + g sqrt(h) z at the left end t_k (Euler step of the reverse SDE, Song et al. 2021
    eq. 6); h = t_k - t_{k+1} or the candidate's own step size."""
    nd, h = c.grid_node(k), c.h(k)
    w = 0.5 if c.slip == "half_score_term" else 1.0
    sign = -1.0 if c.slip == "drift_sign" else 1.0  # y + (f y - g^2 s) h: the step taken with dt's sign flipped
    out = y - (c.c(nd.f) * y - c.c(w * c.drift_g2(nd)) * c.score(y, nd)) * c.c(sign * h)
    return out + math.sqrt(nd.g2 * h) * z[0] if z else out


def reverse_diffusion(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """Reverse of the forward chain x_{i+1} = x_i + f_i + G_i z at level i (Song et al. 2021, App. E):
    y' = y - phi_i y + G_i^2 s + G_i z; VP: phi_i = sqrt(1 - beta_i) - 1, G_i^2 = beta_i; VE: phi_i = 0,
    G_i^2 = var_i - var_{i-1}; other SDEs: Euler-Maruyama with the chain's step T / N at t_k."""
    nd, i = c.grid_node(k), _level(c, k)
    beta, var, prev = _chain(c)
    if isinstance(c.ref, VPSDE):
        phi, G2 = math.sqrt(1.0 - beta[i]) - 1.0, beta[i]
    elif isinstance(c.ref, VESDE):
        phi, G2 = 0.0, var[i] - prev[i]
    else:
        dt = float(c.ref.T) / c.n
        phi, G2 = nd.f * dt, nd.g2 * dt
    out = y - c.c(phi) * y + c.c(G2) * c.score(y, nd)
    return out + math.sqrt(G2) * z[0] if z else out


def ancestral(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """Ancestral sampling of the discrete chain at level i: DDPM (VP, Ho et al. 2020 eq. 11 in score form)
    y' = (y + beta_i s) / sqrt(1 - beta_i) + sqrt(beta_i) z; SMLD (VE, Song et al. 2021 App. F)
    y' = y + (var_i - var_{i-1}) s + sqrt(var_{i-1} (var_i - var_{i-1}) / var_i) z (0 where var_i = 0)."""
    nd, i = c.grid_node(k), _level(c, k)
    beta, var, prev = _chain(c)
    if isinstance(c.ref, VPSDE):
        out = (y + c.c(beta[i]) * c.score(y, nd)) * c.c(1.0 / math.sqrt(1.0 - beta[i]))
        return out + math.sqrt(beta[i]) * z[0] if z else out
    dv = var[i] - prev[i]
    out = y + c.c(dv) * c.score(y, nd)
    std = math.sqrt(prev[i] * dv / var[i]) if var[i] > 0 else 0.0
    return out + std * z[0] if z else out


def _posterior(t: Node, s: Node) -> tuple[float, float, float]:
    """(alpha_{t|s}, sigma_{t|s}^2, sigma_s^2 / sigma_t^2) of the SDE's transition q(x_t | x_s) =
    N(alpha_{t|s} x_s, sigma_{t|s}^2), alpha_{t|s} = alpha_t / alpha_s, sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2
    sigma_s^2 = sigma_t^2 (1 - e^{-2 (lam_s - lam_t)}) (no cancellation)."""
    a = t.alpha / s.alpha
    var = -t.sigma**2 * math.expm1(-2.0 * (s.lam - t.lam)) if s.sigma > 0 else t.sigma**2
    return a, var, (s.sigma / t.sigma) ** 2


def ddpm(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """DDPM's posterior step from t = t_k to s = t_{k+1} (Ho et al. 2020 eqs. 6-7; diffusers' DDPMScheduler):
    mean = (alpha_s sigma_{t|s}^2 / sigma_t^2) x0_hat + (alpha_{t|s} sigma_s^2 / sigma_t^2) y, variance
    ``variance="fixed_small"``: sigma_{t|s}^2 sigma_s^2 / sigma_t^2 (the posterior's), ``"fixed_large"``:
    sigma_{t|s}^2 (= beta_t for VP)."""
    t, s = c.grid_node(k), c.grid_node(k + 1)
    a, var, ratio = _posterior(t, s)
    out = c.c(s.alpha * var / t.sigma**2) * c.x0(y, t) + c.c(a * ratio) * y
    if not z:
        return out
    v = var * ratio if c.options.get("variance", "fixed_small") == "fixed_small" else var
    return out + math.sqrt(v) * z[0]


def ddim(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """DDIM (Song, Meng & Ermon 2021, eq. 12) from t = t_k to s = t_{k+1}, general alpha / sigma:
    y' = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z, c = eta sigma_s sqrt(1 - e^{-2h}),
    h = lam_s - lam_t; eta = 0 is the first-order exponential integrator of the PF ODE (DPM-Solver-1,
    EDM / k-diffusion Euler in sigma~)."""
    t, s = c.grid_node(k), c.grid_node(k + 1)
    eta = float(c.options.get("eta", 0.0))
    one_minus = -math.expm1(-2.0 * (s.lam - t.lam)) if s.sigma > 0 else 1.0
    cz = eta * s.sigma * math.sqrt(one_minus)
    if c.slip == "std_squared":  # the noise std replaced by its variance (in the noise and the direction term)
        cz = eta * s.sigma**2 * one_minus
    direction = t.sigma if c.slip == "direction_at_start" else s.sigma  # sqrt(1 - abar_t) for sqrt(1 - abar_s)
    out = c.c(s.alpha) * c.x0(y, t) + c.c(math.sqrt(max(direction**2 - cz * cz, 0.0))) * c.eps(y, t)
    return out + cz * z[0] if z else out


def edm_euler(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """EDM's / k-diffusion's Euler step in sigma~ (Karras et al. 2022, Alg. 1 without churn; diffusers'
    EulerDiscreteScheduler): x~' = x~ + (sig_s - sig_t) (x~ - D) / sig_t, D = x0_hat, y = alpha x~.  The same map as
    DDIM with eta = 0, written as the candidates write it (the derivative from D), so that a slip in D acts as it
    does in their code."""
    t, s = c.grid_node(k), c.grid_node(k + 1)
    xt = y * c.c(1.0 / t.alpha)
    d = (xt - c.x0(y, t)) * c.c(1.0 / t.sig)
    return (xt + c.c(s.sig - t.sig) * d) * c.c(s.alpha)


def euler_ancestral(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """k-diffusion's ``sample_euler_ancestral`` (diffusers' EulerAncestralDiscreteScheduler) in sigma~ space:
    sigma_up = sqrt(sig_to^2 (sig_from^2 - sig_to^2) / sig_from^2) (eta = 1), sigma_down = sqrt(sig_to^2 - sigma_up^2),
    x~' = x~ + (sigma_down - sig_from) (x~ - D) / sig_from + sigma_up z, D = x0_hat; y = alpha x~."""
    t, s = c.grid_node(k), c.grid_node(k + 1)
    eta = float(c.options.get("eta", 1.0))
    up = min(s.sig, eta * math.sqrt(s.sig**2 * (t.sig**2 - s.sig**2) / t.sig**2))
    down = s.sig if c.slip == "step_to_sigma_to" else math.sqrt(s.sig**2 - up * up)
    xt = y * c.c(1.0 / t.alpha)
    d = (xt - c.x0(y, t)) * c.c(1.0 / t.sig)
    out = c.c(s.alpha) * (xt + c.c(down - t.sig) * d)
    return out + (s.alpha * up) * z[0] if z else out


def edm_heun(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """EDM's Heun sampler (Karras et al. 2022, Alg. 2) in sigma~ space on the candidate's grid: churn
    gamma_k = min(S_churn / n_steps, sqrt(2) - 1) where S_tmin <= sig_k <= S_tmax, sig^ = (1 + gamma) sig_k,
    x^ = x~ + sqrt(sig^^2 - sig_k^2) S_noise z; Euler x_e = x^ + (sig_{k+1} - sig^) d(x^, sig^) and, where
    sig_{k+1} > 0, the trapezoidal correction x' = x^ + (sig_{k+1} - sig^)(d + d(x_e, sig_{k+1})) / 2, with
    d(x~, sig) = (x~ - D(x~, sig)) / sig.  Options: ``churn``, ``s_tmin``, ``s_tmax``, ``s_noise`` (defaults 0,
    0, inf, 1)."""
    t, s = c.grid_node(k), c.grid_node(k + 1)
    churn = float(c.options.get("churn", 0.0))
    lo, hi = float(c.options.get("s_tmin", 0.0)), float(c.options.get("s_tmax", math.inf))
    gamma = min(churn / c.n, math.sqrt(2.0) - 1.0) if lo <= t.sig <= hi else 0.0
    xt = y * c.c(1.0 / t.alpha)
    hat = t
    if gamma > 0.0:
        hat = c.node(t_of_sigma(c.ref, (1.0 + gamma) * t.sig))
        if z:
            xt = xt + (t.sig * math.sqrt(gamma * (2.0 + gamma)) * float(c.options.get("s_noise", 1.0))) * z[0]
    d = (xt - c.x0(xt * c.c(hat.alpha), hat)) * c.c(1.0 / hat.sig)
    step = c.c(s.sig - hat.sig)
    xe = xt + step * d
    if s.sig > 0.0:
        s2 = hat if c.slip == "second_stage_at_start" else s
        if c.slip == "stage2_x0_sigma_early":  # D = x_e - sig_hat eps(x_e, sig_{k+1}): x0 with the stage's start sigma
            d2 = (xe - (xe + c.c(hat.sig * s.sigma) * c.score(xe * c.c(s.alpha), s))) * c.c(1.0 / s.sig)
        else:
            d2 = (xe - c.x0(xe * c.c(s2.alpha), s2)) * c.c(1.0 / s2.sig)
        xe = xt + (step * 0.5) * (d + d2)
    return xe * c.c(s.alpha)


def pc(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """Predictor-corrector (Song et al. 2021, Alg. 1 / score_sde's ``pc_sampler``): the ``predictor``
    (euler_maruyama, reverse_diffusion or ancestral) and ``n_corrector_steps`` annealed Langevin steps
    x + e s + sqrt(2 e) z with e = 2 alpha_i (snr sigma_t)^2 (alpha_i = 1 - beta_i of the step's level on VP /
    sub-VP, else 1), in ``order`` "predictor_first" (correctors at t_{k+1}) or "corrector_first" (at t_k).
    The noise list is [predictor, corrector 1, ...].  (The snr rule with score norms is not affine.)"""
    opts = c.options
    predictor = STEPS[opts.get("predictor", "reverse_diffusion")]
    m = int(opts.get("n_corrector_steps", 1))
    snr = float(opts.get("snr", 0.16))
    first = opts.get("order", "predictor_first") == "predictor_first"
    node = c.grid_node(k + 1 if first else k)
    alpha_i = 1.0
    if isinstance(c.ref, (VPSDE, SubVPSDE)):
        alpha_i = 1.0 - _chain(c)[0][_level(c, k)]
    e = 2.0 * alpha_i * (snr * node.sigma) ** 2

    def correct(y: Any, zs: list[Any]) -> Any:
        for j in range(m):
            y = y + c.c(e) * c.score(y, node)
            if zs:
                y = y + math.sqrt(2.0 * e) * zs[j]
        return y

    zp, zc = (z[:1], z[1:]) if z else ([], [])
    if first:
        return correct(predictor(c, k, y, zp), zc)
    return predictor(c, k, correct(y, zc), zp)


# ---- deterministic schemes ------------------------------------------------------------------------------------------
def _pf(c: Run, y: Any, nd: Node) -> Any:
    """F(y, t) = f y - g^2 s / 2 (the probability-flow ODE, Song et al. 2021 eq. 13)."""
    w = 1.0 if c.slip == "full_score_term" else 0.5
    return c.c(nd.f) * y - c.c(w * c.drift_g2(nd)) * c.score(y, nd)


def ode_euler(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """Euler on the PF ODE in t, backwards: y' = y - h F(y, t_k)."""
    return y - c.c(c.h(k)) * _pf(c, y, c.grid_node(k))


def ode_heun(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """Heun (explicit trapezoid) on the PF ODE in t: y_e = y - h F(y, t_k), y' = y - h (F(y, t_k) + F(y_e, t_{k+1})) / 2."""
    t, s = c.grid_node(k), c.grid_node(k + 1)
    h = c.c(c.h(k))
    k1 = _pf(c, y, t)
    k2 = _pf(c, y - h * k1, t if c.slip == "second_stage_at_start" else s)
    return y - (h * 0.5) * (k1 + k2)


def ode_rk4(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """Classic RK4 on the PF ODE in t with stages at t_k, the midpoint (twice) and t_{k+1}, weights 1/6, 1/3, 1/3, 1/6."""
    t, s = c.grid_node(k), c.grid_node(k + 1)
    mid = c.node(0.5 * (t.t + s.t))
    h = c.c(t.t - s.t)
    k1 = _pf(c, y, t)
    k2 = _pf(c, y - (h * 0.5) * k1, mid)
    k3 = _pf(c, y - (h * 0.5) * k2, mid)
    k4 = _pf(c, y - h * k3, s)
    return y - (h * (1.0 / 6.0)) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def _first_order_eps(c: Run, y: Any, e: Any, t: Node, s: Node) -> Any:
    """DPM-Solver-1: y_s = (alpha_s / alpha_t) y - sigma_s (e^h - 1) eps (Lu et al. 2022, eq. 3.7), h = lam_s - lam_t."""
    h = c.c(s.lam) - c.c(t.lam)
    return c.c(s.alpha / t.alpha) * y - c.c(s.sigma) * M.expm1(h) * e


def dpm_solver(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """Singlestep DPM-Solver-2 / -3 (Lu et al. 2022, Algs. 1-2) with noise predictions; ``order`` 2 (r1 = 1/2) or 3
    (r1 = 1/3, r2 = 2/3), intermediate nodes at lam_t + r h."""
    t, s = c.grid_node(k), c.grid_node(k + 1)
    order = int(c.options.get("order", 2))
    h = s.lam - t.lam
    e0 = c.eps(y, t)
    if order == 1:
        return _first_order_eps(c, y, e0, t, s)
    if order == 2:
        s1 = c.node(t_of_lam(c.ref, t.lam + 0.5 * h))
        e1 = c.eps(_first_order_eps(c, y, e0, t, s1), s1)
        # y_s = (a_s/a_t) y - sigma_s (e^h - 1) e0 - sigma_s / (2 r1) (e^h - 1) (e1 - e0), r1 = 1/2 (Alg. 1)
        return _first_order_eps(c, y, e0, t, s) - (c.c(s.sigma) * M.expm1(c.c(s.lam) - c.c(t.lam))) * (e1 - e0)
    r1, r2 = 1.0 / 3.0, 2.0 / 3.0
    s1, s2 = c.node(t_of_lam(c.ref, t.lam + r1 * h)), c.node(t_of_lam(c.ref, t.lam + r2 * h))
    d1 = c.eps(_first_order_eps(c, y, e0, t, s1), s1) - e0
    h2 = c.c(s2.lam) - c.c(t.lam)
    # u_2 = first order to s2 - sigma_s2 (r2 / r1) ((e^{r2 h} - 1) / (r2 h) - 1) D1 (Alg. 2), (...) = r2 h phi_2(r2 h)
    u2 = _first_order_eps(c, y, e0, t, s2) - (c.c(s2.sigma) * (r2 / r1)) * h2 * M.phi2(h2) * d1
    d2 = c.eps(u2, s2) - e0
    hh = c.c(s.lam) - c.c(t.lam)
    return _first_order_eps(c, y, e0, t, s) - (c.c(s.sigma) * (1.0 / r2)) * hh * M.phi2(hh) * d2


def _first_order_data(c: Run, y: Any, d: Any, t: Node, s: Node) -> Any:
    """DPM-Solver++ first order: y_s = (sigma_s / sigma_t) y - alpha_s (e^{-h} - 1) x0 (Lu et al. 2022b); to sigma_s = 0
    it is x0 itself (the limit)."""
    if s.sigma == 0.0:
        return d * c.c(s.alpha)
    h = c.c(s.lam) - c.c(t.lam)
    return c.c(s.sigma / t.sigma) * y - c.c(s.alpha) * M.expm1(-h) * d


def _multistep_order(c: Run, k: int, order: int) -> int:
    """The order used at step k: warm-up (1, then 2), diffusers' ``lower_order_final`` (in runs of fewer than 15
    candidate steps the last one is first order and the one before at most second order; a last step to
    sigma = 0 is the candidate's last step), and a first-order step to sigma = 0."""
    total = c.n + (1 if c.to_zero else 0)  # the candidate's own step count
    remaining = total - 1 - k  # steps after this one
    used = min(order, k + 1)
    if c.options.get("lower_order_final", False) and total < 15:
        used = min(used, 1 if remaining == 0 else 2 if remaining == 1 else order)
    if c.grid_node(k + 1).sigma == 0.0:
        used = 1
    return used


def _correction(c: Run) -> float:
    """The midpoint multistep correction's factor 1/2 (-1/2 under the slip "correction_sign", 1 under
    "correction_double": the 1/2 dropped)."""
    return {"correction_sign": -0.5, "correction_double": 1.0}.get(c.slip, 0.5)


def dpm_solver_pp(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """Multistep DPM-Solver++ (Lu et al. 2022b) with data predictions: order 1, 2M (``solver_type`` "midpoint":
    D = x0 + (x0 - x0_prev) / (2 r), r = h_prev / h) or 3M (``order=3``; ``variant`` "taylor": the quadratic
    through the last three predictions integrated exactly, third order; "dpm_solver": the published code's term,
    half of it, second order).  Options: ``order``, ``variant``, ``lower_order_final``."""
    t, s = c.grid_node(k), c.grid_node(k + 1)
    d0 = c.x0(y, t)
    hist = c.memory.setdefault("x0", [])
    used = _multistep_order(c, k, int(c.options.get("order", 2)))
    if used == 1:
        out = _first_order_data(c, y, d0, t, s)
    elif used == 2:
        p = c.grid_node(k - 1)
        r = c.ratio(p, t, s)
        out = _first_order_data(c, y, d0 + (d0 - hist[-1]) * c.c(_correction(c) / r), t, s)
    else:
        p, pp = c.grid_node(k - 1), c.grid_node(k - 2)
        h = c.gap(t, s)
        r0, r1 = c.gap(p, t) / h, c.gap(pp, p) / (c.gap(p, t) if c.slip == "r1_over_h0" else h)
        D1_0 = (d0 - hist[-1]) * c.c(1.0 / r0)
        D1_1 = (hist[-1] - hist[-2]) * c.c(1.0 / r1)
        D1 = D1_0 + (D1_0 - D1_1) * c.c(r0 / (r0 + r1))
        D2 = (D1_0 - D1_1) * c.c(1.0 / (r0 + r1))
        q = {"taylor": 2.0, "dpm_solver": 1.0}[c.options.get("variant", "taylor")]
        hb = c.c(s.lam) - c.c(t.lam)
        out = (_first_order_data(c, y, d0, t, s) + c.c(s.alpha) * hb * M.phi2(-hb) * D1
               + (c.c(s.alpha) * q) * hb * M.phi3(-hb) * D2)
    hist.append(d0)
    return out


def dpm_solver_2m(c: Run, k: int, y: Any, z: list[Any]) -> Any:
    """Multistep DPM-Solver-2 with noise predictions (diffusers' ``algorithm_type="dpmsolver"``, midpoint):
    y_s = (alpha_s / alpha_t) y - sigma_s (e^h - 1) (e0 + (e0 - e_prev) / (2 r)), first order on the first step."""
    t, s = c.grid_node(k), c.grid_node(k + 1)
    e0 = c.eps(y, t)
    hist = c.memory.setdefault("eps", [])
    used = _multistep_order(c, k, 2)
    if used == 1 and s.sigma == 0.0:
        out = c.x0(y, t) * c.c(s.alpha)
    elif used == 1:
        out = _first_order_eps(c, y, e0, t, s)
    else:
        p = c.grid_node(k - 1)
        r = c.ratio(p, t, s)
        out = _first_order_eps(c, y, e0 + (e0 - hist[-1]) * c.c(_correction(c) / r), t, s)
    hist.append(e0)
    return out


@dataclass(frozen=True)
class Scheme:
    """A scheme the checks know: its step, its draws per step (0: deterministic), its convergence order, whether
    it reads chain levels, and whether its last step may end at t = 0 (sigma = 0)."""

    step: Step
    draws: Callable[[dict[str, Any]], int]
    order: int
    uses_levels: bool = False
    ends_at_zero: bool = False
    drift: bool = True  # reads f(t), g(t)^2 (else only alpha, sigma)


STEPS: dict[str, Step] = {
    "euler_maruyama": euler_maruyama, "reverse_diffusion": reverse_diffusion, "ancestral": ancestral,
}

SDE_SCHEMES: dict[str, Scheme] = {
    "euler_maruyama": Scheme(euler_maruyama, lambda o: 1, 1),
    "reverse_diffusion": Scheme(reverse_diffusion, lambda o: 1, 1, uses_levels=True),
    "ancestral": Scheme(ancestral, lambda o: 1, 1, uses_levels=True, drift=False),
    "ddpm": Scheme(ddpm, lambda o: 1, 1, ends_at_zero=True, drift=False),
    "ddim": Scheme(ddim, lambda o: 1 if float(o.get("eta", 1.0)) > 0 else 0, 1, ends_at_zero=True, drift=False),
    "euler_ancestral": Scheme(euler_ancestral, lambda o: 1, 1, ends_at_zero=True, drift=False),
    "edm_heun": Scheme(edm_heun, lambda o: 1 if float(o.get("churn", 0.0)) > 0 else 0, 2, ends_at_zero=True,
                       drift=False),
    "pc": Scheme(pc, lambda o: 1 + int(o.get("n_corrector_steps", 1)), 1, uses_levels=True),
}

ODE_SCHEMES: dict[str, Scheme] = {
    "euler": Scheme(ode_euler, lambda o: 0, 1),
    "heun": Scheme(ode_heun, lambda o: 0, 2),
    "rk4": Scheme(ode_rk4, lambda o: 0, 4),
    "ddim": Scheme(ddim, lambda o: 0, 1, ends_at_zero=True, drift=False),
    "edm_euler": Scheme(edm_euler, lambda o: 0, 1, ends_at_zero=True, drift=False),
    "edm_heun": Scheme(edm_heun, lambda o: 0, 2, ends_at_zero=True, drift=False),
    "dpm_solver": Scheme(dpm_solver, lambda o: 0, 2, drift=False),
    "dpm_solver_2m": Scheme(dpm_solver_2m, lambda o: 0, 2, ends_at_zero=True, drift=False),
    "dpm_solver_pp": Scheme(dpm_solver_pp, lambda o: 0, 2, ends_at_zero=True, drift=False),
}

#: Method names that are a scheme with fixed options (the options a user may still add are merged on top).
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "dpm_solver_2": ("dpm_solver", {"order": 2}),
    "dpm_solver_3": ("dpm_solver", {"order": 3}),
    "dpm_solver_pp_2m": ("dpm_solver_pp", {"order": 2}),
    "dpm_solver_pp_3m": ("dpm_solver_pp", {"order": 3}),
}


def resolve(method: str, options: dict[str, Any] | None, stochastic: bool) -> tuple[str, Scheme, dict[str, Any]]:
    """(name, scheme, options) of ``method`` in the SDE or the ODE family."""
    table = SDE_SCHEMES if stochastic else ODE_SCHEMES
    opts: dict[str, Any] = {"eta": 1.0} if stochastic and method == "ddim" else {}  # SDE family: DDIM eta = 1
    name = method
    if method in ALIASES and not stochastic:
        name, opts = ALIASES[method][0], dict(ALIASES[method][1])
    opts.update(options or {})
    if name not in table:
        names = sorted(set(table) | (set(ALIASES) if not stochastic else set()))
        raise ValueError(f"method must be None or one of {names}, got {method!r}")
    scheme = table[name]
    order = scheme.order
    if name == "dpm_solver":
        order = int(opts.get("order", 2))
    if name == "dpm_solver_pp":
        order = 2 if int(opts.get("order", 2)) == 2 or opts.get("variant", "taylor") == "dpm_solver" else 3
    return name, Scheme(scheme.step, scheme.draws, order, scheme.uses_levels, scheme.ends_at_zero, scheme.drift), opts


# ---- what the checks compute ------------------------------------------------------------------------------------------
def _final(c: Run, y: Any, final: str) -> Any:
    """Tweedie's step after the last grid time for ``final="denoise"`` (an affine map of y); under the slip
    "direction_at_start" a DDIM-type last step to sigma = 0 keeps the direction term sigma_{t_n} eps."""
    if final != "denoise":
        return y
    nd = c.grid_node(c.n)
    if c.slip == "direction_at_start" and c.to_zero:
        return c.x0(y, nd) + c.eps(y, nd) * c.c(nd.sigma)
    return c.x0(y, nd)


NOISE_MAPS: dict[str, Callable[[np.ndarray, Run, int], np.ndarray]] = {
    "sqrt2": lambda cz, c, k: math.sqrt(2.0) * cz,  # the noise std off by sqrt(2)
    "squared": lambda cz, c, k: cz * np.abs(cz),  # the variance used as the std
    "none": lambda cz, c, k: 0.0 * cz,  # no noise
    "unscaled": lambda cz, c, k: cz / math.sqrt(c.h(k)),  # g z instead of g sqrt(h) z
}


def scheme_law(c: Run, scheme: Scheme, prior_var: float, final: str = "none",
               noise_scale: float = 1.0, noise: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact (mean, var) per eigen-coordinate after the run from N(0, prior_var): each step's (a, b, c_i) read off
    the step applied to y = 0 and 1 and to unit draws (the step is affine), M' = a M + b, V' = a^2 V + sum c_i^2.
    ``final="mean"`` drops the last step's draws; ``noise_scale`` multiplies every c_i (a scheme whose noise is off
    by that factor, for the report's sensitivity); ``noise`` (a key of NOISE_MAPS) maps them (a noise slip)."""
    D = c.mt.shape[0]
    mean, var = np.zeros(D), np.full(D, float(prior_var))
    n_z = scheme.draws(c.options)
    for k in range(c.n):
        use_z = n_z if not (final == "mean" and k == c.n - 1) else 0
        probe = np.zeros((2 + use_z, D))
        probe[1] = 1.0
        zs = [np.zeros((2 + use_z, D)) for _ in range(use_z)]
        for i, z in enumerate(zs):
            z[2 + i] = 1.0
        out = scheme.step(c, k, probe, zs if use_z else [])
        b = out[0]
        a = out[1] - b
        cz = out[2:] - b
        if noise is not None:
            cz = NOISE_MAPS[noise](cz, c, k)
        mean = a * mean + b
        var = a * a * var + noise_scale**2 * np.sum(cz * cz, axis=0)
    if final == "denoise":
        nd = c.grid_node(c.n)
        w = nd.alpha * c.lam_data / (nd.alpha**2 * c.lam_data + nd.sigma**2)  # x0_hat = mt + w (y - alpha mt)
        mean, var = c.mt + w * (mean - nd.alpha * c.mt), w * w * var
    return mean, var


def scheme_paths(c: Run, scheme: Scheme, y_T: np.ndarray, final: str = "none") -> np.ndarray:
    """The deterministic scheme run on the paths y_T (n, D) in float64 (no draws)."""
    y = np.array(y_T, dtype=np.float64)
    c.memory.clear()
    for k in range(c.n):
        y = scheme.step(c, k, y, [])
    return _final(c, y, final)


def _snapshot(memory: dict[str, Any]) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, list) else value for key, value in memory.items()}


def rounding_budget(c: Run, scheme: Scheme, y_T: np.ndarray, u: float, final: str = "none",
                    exact_propagation_max: int = 200) -> np.ndarray:
    """A first-order bound (n, D) on the rounding error of the scheme run in a dtype of unit roundoff ``u``:
    sum_k |P_k| l_k, forward error analysis with

    * l_k the local rounding error of step k from the exact state: the step in :class:`Bound` arithmetic
      (every operation of the reference expression, the candidate's node coefficients rounded once, its score
      evaluation and its time rounded once, and a multistep history reused with the rounding it was computed
      with; running error analysis, Higham 2002 sec. 3.3), and u |y_T| for the rounding of x_T itself;
    * P_k the exact propagation of a perturbation of the state after step k to the output: the product of the
      steps' own multipliers a_j for one-step schemes, and for multistep schemes (whose history carries a
      perturbation too) the difference of two exact runs from step k + 1 (up to ``exact_propagation_max``
      steps; beyond, the exact flow's sqrt(v_n / v_k), which a stable scheme's propagator approaches).

    Propagating the bound through the absolute values of each operation instead would count cancellations
    that the exact arithmetic has as amplification (x4 per DDIM step on VP), hence the split.
    """
    c.memory.clear()
    states = [np.array(y_T, dtype=np.float64)]
    memories = [_snapshot(c.memory)]
    for k in range(c.n):
        states.append(scheme.step(c, k, states[-1], []))
        memories.append(_snapshot(c.memory))
    local = [u * np.abs(states[0])]
    c.u = u
    c.memory.clear()  # the history (multistep) is rebuilt in Bound arithmetic: its reuse carries its rounding
    try:
        for k in range(c.n):
            local.append(np.asarray(scheme.step(c, k, Bound(states[k], 0.0, u), []).e))
        tail = np.asarray(_final(c, Bound(states[-1], 0.0, u), final).e) if final == "denoise" else 0.0
    finally:
        c.u = 0.0
        c.memory.clear()
    D = states[0].shape[-1]
    multistep = any(isinstance(v, list) and v for v in memories[-1].values())
    final_gain = np.ones(D)
    if final == "denoise":
        nd = c.grid_node(c.n)
        final_gain = np.abs(nd.alpha * c.lam_data / (nd.alpha**2 * c.lam_data + nd.sigma**2))
    gains = [np.ones(D)] * (c.n + 1)  # gains[k]: |d output / d state after step k| (state 0 = x_T)
    if not multistep:
        probe = np.stack([np.zeros(D), np.ones(D)])
        a = []
        for k in range(c.n):
            out = scheme.step(c, k, probe, [])
            a.append(np.abs(out[1] - out[0]))  # the step's multiplier (the step is affine)
        g = np.ones(D)
        for k in range(c.n, -1, -1):
            gains[k] = g
            if k > 0:
                g = g * a[k - 1]
    elif c.n <= exact_propagation_max:
        for k in range(c.n + 1):
            c.memory = _snapshot(memories[k])
            y = np.stack([states[k], states[k] + 1.0])
            for j in range(k, c.n):
                y = scheme.step(c, j, y, [])
            gains[k] = np.abs(y[1] - y[0])
        c.memory.clear()
    else:
        end = c.grid_node(c.n)
        v_end = end.alpha**2 * c.lam_data + end.sigma**2
        for k in range(c.n + 1):
            nd = c.grid_node(k)
            gains[k] = 2.0 * np.sqrt(v_end / (nd.alpha**2 * c.lam_data + nd.sigma**2))
    total = sum(gains[k] * local[k] for k in range(c.n + 1)) * final_gain
    return total + tail


def flow_paths(ref: Any, case: Any, t0: float, t1: float, y_T: np.ndarray, final: str = "none") -> np.ndarray:
    """The exact probability-flow map Phi_{t0 -> t1} in eigen-coordinates: y = alpha_1 mt + sqrt(v_1 / v_0)
    (y_T - alpha_0 mt) (the PF ODE is linear there), then Tweedie's x0_hat for ``final="denoise"``."""
    a, b = node_at(ref, t0, False), node_at(ref, t1, False)
    v0, v1 = a.alpha**2 * case.lam + a.sigma**2, b.alpha**2 * case.lam + b.sigma**2
    y = b.alpha * case.mt + np.sqrt(v1 / v0) * (y_T - a.alpha * case.mt)
    if final == "denoise":
        y = case.mt + (b.alpha * case.lam / v1) * (y - b.alpha * case.mt)
    return y


def reverse_sde_law(ref: Any, case: Any, t0: float, t1: float, prior_var: float,
                    final: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """(mean, var) per eigen-coordinate at t1 of the exact reverse SDE started from N(0, prior_var) at t0.

    In tau = t0 - t, with A(t) = f(t) + g(t)^2 / v_t: dM/dtau = -A M + g^2 alpha mt / v, dV/dtau = -2 A V + g^2;
    p_t solves these, so the deviations from (alpha_t mt, v_t) decay by r = exp(-int A dt) = (v_1 alpha_0) / (v_0 alpha_1):
    V = v_1 + (s^2 - v_0) r^2, M = alpha_1 mt - alpha_0 mt r.  Tweedie's step for ``final="denoise"``."""
    a, b = node_at(ref, t0, False), node_at(ref, t1, False)
    v0, v1 = a.alpha**2 * case.lam + a.sigma**2, b.alpha**2 * case.lam + b.sigma**2
    r = (v1 / v0) * (a.alpha / b.alpha)
    mean, var = b.alpha * case.mt - a.alpha * case.mt * r, v1 + (prior_var - v0) * r * r
    if final == "denoise":
        w = b.alpha * case.lam / v1
        mean, var = case.mt + w * (mean - b.alpha * case.mt), w * w * var
    return mean, var


def output_scale(ref: Any, case: Any, t: float, final: str) -> np.ndarray:
    """The std of the exact output law per coordinate (p_t's, or the posterior mean's for ``final="denoise"``): the
    unit in which path errors are reported."""
    b = node_at(ref, t, False)
    v = b.alpha**2 * case.lam + b.sigma**2
    if final == "denoise":
        return np.sqrt((b.alpha * case.lam) ** 2 / v)
    return np.sqrt(v)
