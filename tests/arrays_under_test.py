"""Moving NumPy test data to the backend under test and back (shared by the test modules).

Expected values are computed in NumPy float64; the code under test runs on ``refsde.get_backend()``
(selected by REFSDE_BACKEND), so every module needs the same three conversions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import refsde


def be() -> Any:
    """The backend under test."""
    return refsde.get_backend()


def arr(a: Any, dtype: str = "float64") -> Any:
    """NumPy data as an array of the backend under test, of dtype ``dtype`` (a name: "float32", "int64").

    Floating targets go through NumPy float64 first, so the backend rounds once; 0-d data becomes a 0-d array.
    """
    b = be()
    target = getattr(b.xp, dtype)
    a = np.asarray(a, dtype=np.float64) if dtype.startswith("float") else np.asarray(a)
    if a.ndim == 0:
        return b.xp.asarray(a.item(), dtype=target, device=b.device)
    return b.asarray(a, dtype=target)


def np_(a: Any) -> np.ndarray:
    """A backend array as NumPy float64 (for comparison with closed forms)."""
    return np.asarray(be().to_numpy(a), dtype=np.float64)


def random_gaussian(rs: np.random.Generator, d: int, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean (d,), SPD covariance A A^T / d + floor I (d, d)) drawn from ``rs``: covariance first, then mean."""
    a = rs.standard_normal((d, d))
    c = a @ a.T / d + floor * np.eye(d)
    return rs.standard_normal(d), 0.5 * (c + c.T)
