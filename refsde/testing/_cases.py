"""The Gaussian data the sampler and corrector checks choose, in any event shape, and its exact score.

Data N(m, C) on an event of shape ``shape`` (D = prod(shape) coordinates, flattened in C order).  The
covariance is C = Q diag(lam) Q^T with Q block diagonal: consecutive coordinate triples are rotated by one
fixed 3 x 3 rotation R (a product of two plane rotations), so that no coordinate axis is an eigen-direction
while the exact score costs O(n D) (the check may need 10^5 samples of an image-shaped event).  Every triple
has the eigenvalues ``eigenvalues`` (default (0.02, 0.5, 2): a near-degenerate direction makes the last
steps near t = 0 matter) and mean R^T-rotated ``mean``; a leftover of D mod 3 coordinates is unrotated with
eigenvalue 0.5 and mean 0.  Coordinates with the same eigenvalue and mean form a *group*; the statistical
tests pool a group's coordinates (their laws are identical), so an image-shaped event costs no more samples.

For shape (3,) (the default) this is the single-triple case the checks always used.

The exact score ``score_fn(x, t)`` (:class:`ExactScore`) accepts t as a Python float, a NumPy scalar, a
0-d array or an array of shape (n,) of any real dtype (diffusers passes integer timesteps through an adapter),
evaluates alpha_t and sigma_t in float64 where the reference's closed forms extend (beyond T for VP, VE and
EDM-type schedules: EDM's churn and adaptive solvers evaluate there), records the range of times it was
asked for, and raises :class:`~refsde.testing.ConformanceError` for t < 0, NaN, or a t beyond the domain
of the reference, naming the time.  It also offers the score as a noise prediction (``eps``), a data
prediction (``x0``) and an EDM denoiser (``denoiser(x~, sigma~)``), so that adapters stay short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConformanceError, hide_from_pytest

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames

DEFAULT_EIGENVALUES = (0.02, 0.5, 2.0)
DEFAULT_MEAN = (1.0, -0.5, 0.25)
LEFTOVER_EIGENVALUE = 0.5


def rotation() -> np.ndarray:
    """The fixed 3 x 3 rotation R = R_1(0.6) R_2(0.35) (plane rotations, angles in radians)."""
    a, b = 0.6, 0.35
    r1 = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    r2 = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(b), -math.sin(b)], [0.0, math.sin(b), math.cos(b)]])
    return r1 @ r2


@dataclass(frozen=True)
class DataCase:
    """Gaussian data N(m, C) on events of shape ``shape``; eigen-coordinates y = x Q (host float64 arrays).

    Q is block diagonal with the 3 x 3 rotation ``R`` (:func:`gaussian_case`), or the dense orthogonal
    ``dense`` when given (:func:`dense_case`, for small D).
    """

    shape: tuple[int, ...]
    lam: np.ndarray  # (D,) eigenvalues, in eigen-coordinate order
    mt: np.ndarray  # (D,) mean in eigen-coordinates
    groups: np.ndarray  # (D,) group index of each eigen-coordinate
    R: np.ndarray  # (3, 3) the block rotation
    dense: np.ndarray | None = None  # (D, D) a dense orthogonal Q instead of the blocks

    @property
    def D(self) -> int:
        return int(self.lam.shape[0])

    @property
    def blocks(self) -> int:
        return 0 if self.dense is not None else self.D // 3

    @property
    def n_groups(self) -> int:
        return int(self.groups.max()) + 1

    @property
    def d(self) -> int:  # the name the older code used
        return self.D

    @property
    def Q(self) -> np.ndarray:
        """The dense (D, D) eigenvector matrix (for small D: reports and tests)."""
        if self.dense is not None:
            return self.dense
        Q = np.eye(self.D)
        for b in range(self.blocks):
            Q[3 * b:3 * b + 3, 3 * b:3 * b + 3] = self.R
        return Q

    @property
    def m(self) -> np.ndarray:
        return self.to_data(self.mt[None, :])[0]

    @property
    def cov(self) -> np.ndarray:
        return (self.Q * self.lam) @ self.Q.T

    def to_eigen(self, x: np.ndarray) -> np.ndarray:
        """Host (n, *shape) or (n, D) data coordinates -> (n, D) eigen-coordinates y = x Q."""
        flat = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)
        if self.dense is not None:
            return flat @ self.dense
        y = flat.copy()
        nb = self.blocks
        if nb:
            y[:, : 3 * nb] = (flat[:, : 3 * nb].reshape(-1, nb, 3) @ self.R).reshape(-1, 3 * nb)
        return y

    def to_data(self, y: np.ndarray) -> np.ndarray:
        """(n, D) eigen-coordinates -> (n, D) data coordinates x = y Q^T."""
        y = np.asarray(y, dtype=np.float64)
        if self.dense is not None:
            return y @ self.dense.T
        x = y.copy()
        nb = self.blocks
        if nb:
            x[:, : 3 * nb] = (y[:, : 3 * nb].reshape(-1, nb, 3) @ self.R.T).reshape(-1, 3 * nb)
        return x

    def describe(self) -> str:
        lam = ", ".join(f"{v:g}" for v in np.unique(self.lam))
        return f"Gaussian data on events of shape {self.shape} (eigenvalues {lam}, {self.n_groups} groups)"


def gaussian_case(shape: Any = (3,), eigenvalues: Any = DEFAULT_EIGENVALUES, mean: Any = DEFAULT_MEAN) -> DataCase:
    """The :class:`DataCase` of event shape ``shape`` with per-triple ``eigenvalues`` and ``mean`` (3 each)."""
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"shape must be a non-empty tuple of positive sizes, got {shape!r}")
    lam3 = np.asarray(eigenvalues, dtype=np.float64)
    m3 = np.asarray(mean, dtype=np.float64)
    if lam3.shape != (3,) or m3.shape != (3,):
        raise ValueError("eigenvalues and mean must have three entries (one per coordinate of a triple)")
    if not np.all(np.isfinite(lam3)) or np.any(lam3 <= 0) or not np.all(np.isfinite(m3)):
        raise ValueError(f"eigenvalues must be finite and > 0 and mean finite, got {eigenvalues!r}, {mean!r}")
    D = int(np.prod(shape))
    nb, rest = divmod(D, 3)
    R = rotation()
    mt3 = R.T @ m3  # the triple's mean in eigen-coordinates
    lam = np.concatenate([np.tile(lam3, nb), np.full(rest, LEFTOVER_EIGENVALUE)])
    mt = np.concatenate([np.tile(mt3, nb), np.zeros(rest)])
    groups = np.concatenate([np.tile(np.arange(3), nb), np.full(rest, 3 if nb else 0)]).astype(int)
    if not nb:
        groups = np.zeros(rest, dtype=int)
    return DataCase(shape=shape, lam=lam, mt=mt, groups=groups, R=R)


def dense_case(m: Any, lam: Any, Q: Any, groups: Any) -> DataCase:
    """A :class:`DataCase` with a dense orthogonal Q (data N(m, Q diag(lam) Q^T) on events of shape (D,))."""
    Q = np.asarray(Q, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    return DataCase(shape=(int(lam.shape[0]),), lam=lam, mt=Q.T @ np.asarray(m, dtype=np.float64),
                    groups=np.asarray(groups, dtype=int), R=rotation(), dense=Q)


class ExactScore:
    """The exact score of a :class:`DataCase` under ``ref`` on a backend (module docstring)."""

    def __init__(self, case: DataCase, ref: Any, backend: Any, ref_dtype: Any, check: str) -> None:
        self.case, self.ref, self.backend, self.check = case, ref, backend, check
        xp = backend.xp
        self._xp = xp
        self._ref_dtype = ref_dtype
        self._lam = backend.asarray(case.lam, dtype=ref_dtype)
        self._mt = backend.asarray(case.mt, dtype=ref_dtype)
        self._R = backend.asarray(case.R, dtype=ref_dtype)
        self._Q = None if case.dense is None else backend.asarray(case.dense, dtype=ref_dtype)
        self.t_min = math.inf
        self.t_max = -math.inf
        self.calls = 0

    # -- time handling -----------------------------------------------------------------------------------
    def _times(self, t: Any, n: int) -> Any:
        xp = self._xp
        if isinstance(t, (int, float, np.integer, np.floating)):
            tt = self.backend.asarray(float(t), dtype=self._ref_dtype)
        else:
            from ._inputs import to_reference

            tt = to_reference(t, self.backend, check=self.check, name="score time t")  # float64, any library in
            if tt.ndim > 1 or (tt.ndim == 1 and tt.shape[0] not in (1, n)):
                raise ConformanceError(self.check, "score call", input=f"t of shape {tuple(tt.shape)}",
                                       expected=f"t a float, a 0-d array or shape ({n},)", got="another shape",
                                       reference=repr(self.ref))
        lo, hi = float(xp.min(tt)), float(xp.max(tt))
        if math.isnan(lo) or math.isnan(hi):
            raise ConformanceError(self.check, "score call", input="t = NaN", expected="a time in the reference's domain",
                                   got="NaN", reference=repr(self.ref))
        self.t_min, self.t_max = min(self.t_min, lo), max(self.t_max, hi)
        if lo < 0.0:
            raise ConformanceError(
                self.check, "score call", input=f"t = {lo}", expected=f"t >= 0 (the reference's domain is [0, {self.ref.T}])",
                got=f"the candidate asked for the score at t = {lo}", reference=repr(self.ref),
            )
        return tt

    def coefficients(self, tt: Any) -> tuple[Any, Any]:
        """(alpha_t, sigma_t) in float64, beyond T where the closed forms extend (ConformanceError otherwise)."""
        if float(self._xp.max(tt)) <= float(self.ref.T):
            return self.ref.marginal_coefficients(tt)
        try:
            return self.ref._extended_marginal(tt)
        except ValueError as exc:
            raise ConformanceError(
                self.check, "score call", input=f"t = {float(self._xp.max(tt))}",
                expected=f"t in the reference's domain [0, {self.ref.T}]",
                got=f"the candidate asked for the score at t = {float(self._xp.max(tt))} ({exc})", reference=repr(self.ref),
            ) from None

    # -- the score and its parameterizations --------------------------------------------------------------
    def _eig(self, flat: Any) -> Any:
        xp, nb = self._xp, self.case.blocks
        if self._Q is not None:
            return flat @ self._Q
        if not nb:
            return flat
        head = xp.reshape(xp.reshape(flat[:, : 3 * nb], (-1, nb, 3)) @ self._R, (-1, 3 * nb))
        return xp.concat([head, flat[:, 3 * nb:]], axis=1) if 3 * nb < self.case.D else head

    def _data(self, y: Any) -> Any:
        xp, nb = self._xp, self.case.blocks
        if self._Q is not None:
            return y @ xp.permute_dims(self._Q, (1, 0))
        if not nb:
            return y
        head = xp.reshape(xp.reshape(y[:, : 3 * nb], (-1, nb, 3)) @ xp.permute_dims(self._R, (1, 0)), (-1, 3 * nb))
        return xp.concat([head, y[:, 3 * nb:]], axis=1) if 3 * nb < self.case.D else head

    def _shaped(self, x: Any) -> tuple[Any, int]:
        xp = self._xp
        if not hasattr(x, "shape") or x.ndim < 1 or int(np.prod(tuple(x.shape[1:]))) != self.case.D:
            raise ConformanceError(self.check, "score call", input=f"x of shape {getattr(x, 'shape', type(x).__name__)}",
                                   expected=f"x of shape (n, *{self.case.shape})", got="another shape",
                                   reference=repr(self.ref))
        return xp.reshape(xp.astype(x, self._ref_dtype), (x.shape[0], self.case.D)), x.shape[0]

    def _broadcast(self, c: Any, n: int) -> Any:
        return self._xp.reshape(c, (-1, 1)) if c.ndim == 1 else c

    def __call__(self, x: Any, t: Any) -> Any:
        """grad_x log p_t(x), like x (its shape, dtype and device)."""
        self.calls += 1
        flat, n = self._shaped(x)
        tt = self._times(t, n)
        alpha, sigma = (self._broadcast(c, n) for c in self.coefficients(tt))
        y = self._eig(flat)
        s = -(y - alpha * self._mt) / (alpha * alpha * self._lam + sigma * sigma)  # -(y - alpha mt) / v_t
        out = self._xp.reshape(self._data(s), tuple(x.shape))
        return out if out.dtype == x.dtype else self._xp.astype(out, x.dtype)

    def eps(self, x: Any, t: Any) -> Any:
        """The noise prediction eps_hat = -sigma_t s(x, t) (what an eps-prediction network returns)."""
        n = x.shape[0]
        _, sigma = self.coefficients(self._times(t, n))
        sigma = self._xp.reshape(self._xp.astype(sigma, x.dtype), (-1,) + (1,) * (x.ndim - 1)) if sigma.ndim else sigma
        return -(self._xp.astype(sigma, x.dtype)) * self(x, t)

    def x0(self, x: Any, t: Any) -> Any:
        """The data prediction E[x_0 | x_t = x] = (x + sigma_t^2 s) / alpha_t (Tweedie)."""
        n = x.shape[0]
        alpha, sigma = self.coefficients(self._times(t, n))
        shape = (-1,) + (1,) * (x.ndim - 1)
        a = self._xp.reshape(self._xp.astype(alpha, x.dtype), shape) if alpha.ndim else self._xp.astype(alpha, x.dtype)
        s2 = self._xp.reshape(self._xp.astype(sigma * sigma, x.dtype), shape) if sigma.ndim else self._xp.astype(sigma * sigma, x.dtype)
        return (x + s2 * self(x, t)) / a

    def denoiser(self, x_edm: Any, sigma_edm: Any) -> Any:
        """EDM's D(x~; sigma~) = E[x_0 | x_t = alpha_t x~] at the time t of noise level sigma~ = sigma_t / alpha_t."""
        xp = self._xp
        sig = sigma_edm if hasattr(sigma_edm, "shape") else self.backend.asarray(float(sigma_edm), dtype=self._ref_dtype)
        sig64 = xp.astype(sig, self._ref_dtype)
        t = self.t_of_sigma(sig64)
        alpha, _ = self.coefficients(t)
        shape = (-1,) + (1,) * (x_edm.ndim - 1)
        a = xp.reshape(xp.astype(alpha, x_edm.dtype), shape) if alpha.ndim else xp.astype(alpha, x_edm.dtype)
        return self.x0(a * x_edm, t)

    def t_of_sigma(self, sigma_edm: Any) -> Any:
        """The reference time of EDM noise level sigma~ (beyond T where the closed form extends)."""
        xp = self._xp
        if float(xp.max(sigma_edm)) <= float(self.ref.edm_sigma(float(self.ref.T))):
            return self.ref.t_from_sigma(sigma_edm)
        lam = -2.0 * xp.log(sigma_edm)  # log-SNR of noise level sigma~
        t = self.ref._t_from_log_snr(lam)
        if bool(xp.any(xp.isnan(t))):
            raise ConformanceError(self.check, "score call", input=f"sigma = {float(xp.max(sigma_edm))}",
                                   expected="a noise level of the reference", got="beyond its closed forms",
                                   reference=repr(self.ref))
        return t

    def domain_note(self) -> str:
        """Where the candidate evaluated the score, for the report."""
        if self.calls == 0:
            return "the candidate never called score_fn"
        note = f"score evaluated at t in [{self.t_min:.6g}, {self.t_max:.6g}] ({self.calls} calls)"
        if self.t_max > float(self.ref.T):
            note += f"; beyond T = {self.ref.T} up to {self.t_max:.6g} (the reference's closed forms extend there)"
        return note
