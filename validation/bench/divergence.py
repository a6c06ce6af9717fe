"""Benchmark 3: exact divergence (d Jacobian-vector products) against Hutchinson's estimator (m probes).

The primitive both likelihood methods repeat at every drift evaluation: div s(x, t) for the exact
Gaussian score s of N(0, diag(linspace(0.5, 2, d))) under the VP-SDE at t = 0.5, n points.

* exact: sum_j (J e_j)_j over the d basis vectors, one ``backend.jvp`` each (autodiff on torch / jax,
  central differences on NumPy-like backends);
* Hutchinson: (1/m) sum_i v_i . (J v_i) with m Gaussian probes v_i (one jvp each).

Cost is d jvps against m jvps, so the time crossover sits near d = m; the price of Hutchinson is its
error, whose standard deviation for Gaussian probes is sqrt(2 ||J||_F^2 / m) (Hutchinson 1990), growing
like sqrt(d).  Reported per d: seconds per evaluation (median of the repeats) and the relative RMS error
over the n points against the oracle's analytic ``divergence``.  When ``refsde.likelihood`` is importable
the same comparison is also run end to end: ``log_likelihood(divergence="exact")`` on a plain-function
wrapper of the score (so it must use jvps) against ``divergence="hutchinson"``.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any, Callable

from .problems import SEED, gaussian_score
from .timing import time_once

T_EVAL = 0.5
PROBES = (1, 10)


@dataclasses.dataclass(frozen=True)
class DivergenceRow:
    d: int
    n: int
    method: str  # "exact" or "hutchinson(m)"
    seconds: float
    rel_rms_error: float


def exact_divergence(backend: Any, fn: Callable[[Any], Any], x: Any) -> Any:
    """sum_j (J e_j)_j with one jvp per basis vector: shape (n,)."""
    xp = backend.xp
    d = int(x.shape[1])
    eye = xp.eye(d, dtype=x.dtype, device=backend.device)
    total = xp.zeros((int(x.shape[0]),), dtype=x.dtype, device=backend.device)
    for j in range(d):
        e_j = xp.broadcast_to(eye[j : j + 1, :], tuple(x.shape))
        _, jv = backend.jvp(fn, x, e_j)
        total = total + jv[:, j]
    return total


def hutchinson_divergence(backend: Any, fn: Callable[[Any], Any], x: Any, probes: Any) -> Any:
    """(1/m) sum_i v_i . (J v_i) over the m probes (m, n, d): shape (n,)."""
    xp = backend.xp
    m = int(probes.shape[0])
    total = xp.zeros((int(x.shape[0]),), dtype=x.dtype, device=backend.device)
    for i in range(m):
        _, jv = backend.jvp(fn, x, probes[i, ...])
        total = total + xp.sum(probes[i, ...] * jv, axis=1)
    return total / m


def _rel_rms(backend: Any, est: Any, ref: Any) -> float:
    xp = backend.xp
    num = float(backend.to_numpy(xp.mean((est - ref) ** 2)))
    den = float(backend.to_numpy(xp.mean(ref**2)))
    return math.sqrt(num / den)


def run_divergence_benchmarks(
    backend: Any, dims: list[int], n: int, repeats: int, log: Callable[[str], None] = print
) -> list[DivergenceRow]:
    """Rows (d, method, seconds per evaluation, relative RMS error) for every d and method."""
    from refsde import make_rng

    rows: list[DivergenceRow] = []
    rng = make_rng(SEED, backend)
    for d in dims:
        score = gaussian_score(backend, d)
        x = rng.normal((n, d), dtype=backend.default_dtype)
        t = backend.asarray(T_EVAL, dtype=backend.default_dtype)
        ref = score.divergence(x, t)

        def fn(y: Any) -> Any:
            return score(y, t)

        methods: dict[str, Callable[[], Any]] = {"exact": lambda: exact_divergence(backend, fn, x)}
        for m in PROBES:
            probes = rng.normal((m, n, d), dtype=backend.default_dtype)
            methods[f"hutchinson({m})"] = lambda p=probes: hutchinson_divergence(backend, fn, x, p)
        for name, call in methods.items():
            block = lambda r: backend.to_numpy(r[0:1])  # noqa: E731
            call()  # warm-up
            runs = [time_once(call, block) for _ in range(repeats)]
            seconds = statistics.median(r[0] for r in runs)
            rows.append(DivergenceRow(d, n, name, seconds, _rel_rms(backend, runs[-1][1], ref)))
            log(f"  divergence d={d:<5d} {name:15s} {seconds * 1e3:9.3f} ms  rel. RMS error {rows[-1].rel_rms_error:.1e}")
    return rows


def crossover(rows: list[DivergenceRow], m: int) -> str:
    """A sentence locating the smallest d at which exact is slower than Hutchinson with m probes."""
    by_d: dict[int, dict[str, DivergenceRow]] = {}
    for r in rows:
        by_d.setdefault(r.d, {})[r.method] = r
    key = f"hutchinson({m})"
    slower = [d for d, ms in sorted(by_d.items()) if key in ms and ms["exact"].seconds > ms[key].seconds]
    if not slower:
        return f"exact was never slower than Hutchinson with m={m} for the d measured"
    d0 = slower[0]
    return (f"exact is slower than Hutchinson with m={m} from d={d0} on "
            f"(there Hutchinson's relative RMS error is {by_d[d0][key].rel_rms_error:.2g})")


@dataclasses.dataclass(frozen=True)
class EndToEndRow:
    d: int
    n: int
    method: str
    seconds: float
    nfe: int | None
    max_abs_err: float


def run_end_to_end(
    backend: Any, dims: list[int], n: int, log: Callable[[str], None] = print
) -> list[EndToEndRow]:
    """log_likelihood with exact (jvp) and Hutchinson divergence; raises BenchSkipped without refsde.likelihood."""
    import numpy as np

    from refsde import make_rng

    from .likelihood import EPS, TOL, import_log_likelihood

    log_likelihood = import_log_likelihood()
    rows: list[EndToEndRow] = []
    for d in dims:
        score = gaussian_score(backend, d)
        sde = score.sde
        x = sde.prior_sample((n, d), make_rng(SEED + d, backend), dtype=backend.default_dtype)
        exact = backend.to_numpy(score.log_prob(x, EPS))

        def plain(y: Any, t: Any) -> Any:  # no ``divergence`` attribute: log_likelihood must use jvps
            return score(y, t)

        runs = {
            "exact (d jvps)": dict(divergence="exact"),
            **{f"hutchinson({m})": dict(divergence="hutchinson", n_probes=m, rng=SEED) for m in PROBES},
        }
        for name, kwargs in runs.items():
            seconds, (log_p, info) = time_once(
                lambda kw=kwargs: log_likelihood(plain, sde, x, eps=EPS, method="rk45", rtol=TOL, atol=TOL, **kw)
            )
            err = float(np.max(np.abs(np.asarray(backend.to_numpy(log_p), dtype=np.float64) - exact)))
            rows.append(EndToEndRow(d, n, name, seconds, getattr(info, "nfe", None), err))
            log(f"  log_likelihood d={d:<4d} {name:15s} {seconds:7.3f} s nfe {rows[-1].nfe} max|err| {err:.2e}")
    return rows
