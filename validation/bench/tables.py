"""Markdown tables (BENCH.md) and the optional plot of the benchmark results."""

from __future__ import annotations

import os
from typing import Any, Sequence


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 1.0 else f"{seconds:.3f} s"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def sampler_table(rows: Sequence[Any]) -> list[str]:
    out = []
    for r in rows:
        c = r.comparison
        lo, hi = c.ratio_iqr
        out.append([r.sampler, f"({r.n}, {r.d})", r.score, r.n_steps, _fmt_s(c.median_a), _fmt_s(c.median_b),
                    f"{c.median_ratio:.3f}", f"{lo:.3f}-{hi:.3f}", f"{min(c.ratios):.3f}-{max(c.ratios):.3f}",
                    len(c.ratios), f"{r.max_abs_diff:.1e}", _verdict(c.median_ratio <= r.target)])
    return table(["sampler", "(n, d)", "score", "steps", "refsde", "loop", "ratio (median)", "IQR", "min-max",
                  "repeats", "max abs diff", "target <= 1.05"], out)


def _overhead(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds * 1e3:.3f} ms"


def _over_ratio(a: float, b: float) -> str:
    return "n/a" if a != a or b != b or b <= 0 else f"{a / b:.2f}"


def likelihood_table(rows: Sequence[Any]) -> list[str]:
    out = []
    for r in rows:
        c = r.comparison
        lo, hi = c.ratio_iqr
        nfe_ok = r.nfe_refsde is not None and r.nfe_refsde <= r.nfe_scipy
        oa, ob = getattr(r, "overhead_refsde", float("nan")), getattr(r, "overhead_scipy", float("nan"))
        out.append([r.d, r.n, getattr(r, "score", "gaussian"), r.nfe_refsde if r.nfe_refsde is not None else "n/a",
                    r.score_nfe_refsde if r.score_nfe_refsde is not None else "n/a", r.nfe_scipy,
                    _verdict(nfe_ok), f"{getattr(r, 'attempts_refsde', 0)} ({getattr(r, 'rejected_refsde', 0)}) / "
                    f"{getattr(r, 'attempts_scipy', 0)} ({getattr(r, 'rejected_scipy', 0)})",
                    _fmt_s(c.median_a), _fmt_s(c.median_b), f"{c.median_ratio:.3f}",
                    f"{lo:.3f}-{hi:.3f}", _verdict(c.median_ratio <= 0.5), _overhead(oa), _overhead(ob),
                    _over_ratio(oa, ob), _verdict(oa <= ob) if oa == oa and ob == ob else "n/a",
                    f"{r.max_abs_delta:.1e}", f"{r.err_refsde:.1e}", f"{r.err_scipy:.1e}", _fmt_s(r.floor_seconds)])
    return table(["d", "n", "score", "solver NFE", "info.nfe", "scipy nfev", "NFE <= scipy",
                  "attempts (rejected) refsde / scipy", "refsde", "scipy", "time ratio", "IQR", "ratio <= 0.5",
                  "overhead / attempt refsde", "overhead / attempt scipy", "overhead ratio", "overhead <= scipy",
                  "max abs Δlog p", "refsde err", "scipy err", "score floor"], out)


def peer_table(rows: Sequence[Any]) -> list[str]:
    """refsde's rk45 against torchdiffeq's dopri5 (bench/peers.py rows)."""
    out = []
    for r in rows:
        c = r.comparison
        lo, hi = c.ratio_iqr
        out.append([r.d, r.n, r.dtype, r.score, r.divergence, f"{r.nfe_refsde} / {r.nfe_peer}",
                    _verdict(r.nfe_refsde <= r.nfe_peer),
                    f"{r.accepted_refsde} / {r.rejected_refsde}", f"{r.accepted_peer} / {r.rejected_peer}",
                    _fmt_s(c.median_a), _fmt_s(c.median_b), f"{c.median_ratio:.3f}", f"{lo:.3f}-{hi:.3f}",
                    _verdict(c.median_ratio <= 0.5), _overhead(r.overhead_refsde), _overhead(r.overhead_peer),
                    _over_ratio(r.overhead_refsde, r.overhead_peer), _verdict(r.overhead_refsde <= r.overhead_peer),
                    f"{r.max_abs_delta:.1e}", f"{r.err_refsde:.1e}", f"{r.err_peer:.1e}"])
    return table(["d", "n", "dtype", "score", "divergence", "NFE refsde / dopri5", "NFE <= dopri5",
                  "refsde accepted / rejected", "dopri5 accepted / rejected", "refsde", "torchdiffeq",
                  "time ratio", "IQR", "ratio <= 0.5", "overhead / attempt refsde", "overhead / attempt dopri5",
                  "overhead ratio", "overhead <= dopri5", "max abs Δlog p", "refsde err", "dopri5 err"], out)


def divergence_table(rows: Sequence[Any]) -> list[str]:
    return table(["d", "n", "method", "time / evaluation", "relative RMS error"],
                 [[r.d, r.n, r.method, _fmt_s(r.seconds), f"{r.rel_rms_error:.1e}"] for r in rows])


def end_to_end_table(rows: Sequence[Any]) -> list[str]:
    return table(["d", "n", "divergence", "wall time", "info.nfe", "max abs error of log p"],
                 [[r.d, r.n, r.method, _fmt_s(r.seconds), r.nfe, f"{r.max_abs_err:.1e}"] for r in rows])


def memory_table(rows: Sequence[Any]) -> list[str]:
    out = []
    for r in rows:
        a, b = r.per_state
        out.append([r.kind, f"({r.n}, {r.d})", f"{r.steps[0]} / {r.steps[1]}",
                    f"{r.peaks[0] / 2**20:.2f} / {r.peaks[1] / 2**20:.2f} MiB", f"{a:.1f} / {b:.1f}",
                    f"{r.growth:.2f}", f"{r.states_per_step:.4f}", _verdict(r.states_per_step < 0.05), r.method])
    return table(["work", "(n, d)", "steps", "peak", "peak / (n d itemsize)", "growth", "states added per step",
                  "O(n d): < 0.05", "method"], out)


def write_plot(sampler_rows: Sequence[Any], path: str) -> str | None:
    """A bar chart of the sampler ratios with IQR whiskers; None (and no file) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if not sampler_rows:
        return None
    labels = [f"{r.sampler}\n({r.n},{r.d}) {r.score}" for r in sampler_rows]
    med = [r.comparison.median_ratio for r in sampler_rows]
    err = [[m - r.comparison.ratio_iqr[0] for m, r in zip(med, sampler_rows)],
           [r.comparison.ratio_iqr[1] - m for m, r in zip(med, sampler_rows)]]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(labels)), 4.0))
    ax.bar(range(len(labels)), med, yerr=err, capsize=3)
    ax.axhline(1.05, color="red", linestyle="--", label="target 1.05")
    ax.axhline(1.0, color="black", linewidth=0.5)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("time refsde / hand-written loop")
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
