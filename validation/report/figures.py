"""Figures of ``refsde validate --plots DIR`` (matplotlib, the ``plot`` extra).

Under ``--impl`` every figure is of the user's code (:func:`make_impl_figures`): one file per checked piece,
``impl_<check>.png``, titled with the piece's attribute, its check and the verdict, drawn from the panels the
check recorded from the candidate's own outputs (``CheckReport.evidence`` / ``ConformanceError.evidence``,
:data:`refsde.testing.report.PANEL_KINDS`): its time coefficients or std(t) against the closed form, QQ plots of
its samples standardized by the exact law the check used, its convergence-order ladder, its log-likelihood
errors.  A piece whose check records no panel (a SKIP, the deterministic drift and loss checks) has no figure.

refsde's own figures (self-validation, no ``--impl``; :func:`make_figures`): each figure is computed on the validation backend (arrays converted with ``backend.to_numpy`` only for
plotting) against a closed form of :mod:`refsde.gaussian` or of the SDE:

1. ``std_vs_closed_form.png``: the std of forward Euler-Maruyama paths from x0 = 0 (4000 paths, 1000
   steps) against the closed-form std sigma_t of VP, sub-VP and VE (exact convention);
2. ``qq_samplers.png``: QQ plots of whitened samples of the reverse-SDE (Euler-Maruyama, 500 steps) and
   probability-flow (RK4, 100 steps) samplers against N(0, 1), whitened with the exact p_eps of Gaussian
   data (the prior mismatch of VP at T = 1 is ~1e-4 in std, invisible at this scale);
3. ``convergence_orders.png``: max error of the PF-ODE Euler / Heun / RK4 samplers against the exact flow
   map Phi_{T -> eps} as n_steps doubles, with the fitted log-log slopes (1, 2, 4 expected);
4. ``likelihood_errors.png``: histogram of log p from :func:`refsde.likelihood.log_likelihood` minus the
   closed form log pi(Phi_{eps -> T}(x)) + log|det dPhi/dx| (only when refsde.likelihood is present).
"""

from __future__ import annotations

import math
import os
import sys
import textwrap
from typing import Any, Callable

import numpy as np

import refsde
from refsde.testing._stats import norm_ppf

__all__ = ["make_figures", "make_impl_figures"]

MU = [0.5, -1.0]
SIGMA = [[1.0, 0.4], [0.4, 0.5]]
EPS = 1e-3


def _data(backend: Any) -> Any:
    from refsde.gaussian import Gaussian

    xp = backend.xp
    dt = xp.float64 if hasattr(xp, "float64") else backend.default_dtype
    return Gaussian(backend.asarray(MU, dtype=dt), backend.asarray(SIGMA, dtype=dt))


def _std_figure(plt: Any, backend: Any, path: str, seed: int) -> None:
    from ..checks.euler_maruyama import simulate_em

    sdes = [("VP", refsde.VPSDE()), ("sub-VP", refsde.SubVPSDE()), ("VE (exact)", refsde.VESDE())]
    K, n = 1000, 4000
    snaps = list(range(0, K + 1, 25))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, (label, sde) in zip(axes, sdes):
        x0 = backend.xp.zeros((n, 1), dtype=backend.default_dtype)
        paths = simulate_em(sde, x0, K, snaps, refsde.make_rng(seed, backend))
        ts = np.array([k / K for k in snaps])
        emp = np.array([backend.to_numpy(paths[k]).std() for k in snaps])
        fine = np.linspace(0.0, 1.0, 401)
        _, std = sde.marginal(backend.asarray(np.zeros((fine.size, 1))), backend.asarray(fine))
        ax.plot(fine, backend.to_numpy(std).reshape(-1), "k-", lw=1, label="closed form sigma_t")
        ax.plot(ts, emp, "o", ms=3, label=f"EM, {n} paths, {K} steps")
        ax.set_title(label)
        ax.set_xlabel("t")
        if label.startswith("VE"):
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("std of x_t given x_0 = 0")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _whiten(backend: Any, data: Any, sde: Any, x: Any) -> np.ndarray:
    p = data.marginal(sde, EPS)
    mean = backend.to_numpy(p.mean)
    cov = backend.to_numpy(p.cov)
    chol = np.linalg.cholesky(cov)
    return np.linalg.solve(chol, (backend.to_numpy(x) - mean).T).T


def _qq_figure(plt: Any, backend: Any, path: str, seed: int) -> None:
    from refsde.sampling import sample_ode, sample_sde

    sde = refsde.VPSDE()
    data = _data(backend)
    score = data.score_fn(sde)
    n = 2000
    x_T = sde.prior_sample((n, 2), rng=refsde.make_rng(seed, backend))
    runs = [
        ("reverse SDE, Euler-Maruyama, 500 steps", sample_sde(score, sde, x_T, 500, eps=EPS, rng=refsde.make_rng(seed + 1, backend))[0]),
        ("PF ODE, RK4, 100 steps", sample_ode(score, sde, x_T, 100, eps=EPS, method="rk4")[0]),
    ]
    q = np.array([norm_ppf((i + 0.5) / n) for i in range(n)])
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (label, x) in zip(axes, runs):
        w = _whiten(backend, data, sde, x)
        for j in range(w.shape[1]):
            ax.plot(q, np.sort(w[:, j]), ".", ms=2, label=f"whitened coordinate {j}")
        ax.plot([-4, 4], [-4, 4], "k-", lw=0.8)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("N(0, 1) quantile")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("sample quantile (whitened by exact p_eps)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _order_figure(plt: Any, backend: Any, path: str, seed: int) -> None:
    from refsde.sampling import sample_ode

    sde = refsde.VPSDE()
    data = _data(backend)
    score = data.score_fn(sde)
    x_T = sde.prior_sample((64, 2), rng=refsde.make_rng(seed, backend))
    x_T = backend.xp.astype(x_T, data.dtype)
    exact = backend.to_numpy(data.flow_map(sde, sde.T, EPS, x_T)[0])
    steps = [4, 8, 16, 32, 64, 128, 256]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for method in ("euler", "heun", "rk4"):
        errs = np.array([np.abs(backend.to_numpy(sample_ode(score, sde, x_T, k, eps=EPS, method=method)[0]) - exact).max() for k in steps])
        good = errs > 1e-13
        slope = -np.polyfit(np.log(np.array(steps)[good][-4:]), np.log(errs[good][-4:]), 1)[0] if good.sum() >= 2 else math.nan
        ax.loglog(steps, errs, "o-", label=f"{method}: slope {slope:.2f}")
    ax.set_xlabel("n_steps")
    ax.set_ylabel("max |x - Phi_{T->eps}(x_T)|")
    ax.set_title("PF-ODE samplers vs the exact flow map (VP, Gaussian data)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _likelihood_figure(plt: Any, backend: Any, path: str, seed: int) -> None:
    try:
        from refsde.likelihood import log_likelihood
    except ImportError as exc:
        raise RuntimeError(f"refsde.likelihood.log_likelihood is not available ({exc})") from exc
    sde = refsde.VPSDE()
    data = _data(backend)
    score = data.score_fn(sde)
    x = data.marginal(sde, EPS).sample(500, rng=refsde.make_rng(seed, backend))
    logp, _ = log_likelihood(score, sde, x, eps=EPS, rtol=1e-8, atol=1e-8)
    z, logdet = data.flow_map(sde, EPS, sde.T, x)
    exact = backend.to_numpy(sde.prior_logp(z) + logdet)
    err = backend.to_numpy(logp) - exact
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.hist(err, bins=40)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    ax.xaxis.get_offset_text().set_x(1.05)  # the "1e-8" multiplier right of the axis, clear of the label
    ax.set_xlabel("log p (refsde, RK45 rtol = atol = 1e-8) - closed form  [nats]", labelpad=8)
    ax.set_ylabel("samples")
    ax.set_title(f"ODE likelihood error, VP, d = 2, n = 500: max |err| = {np.abs(err).max():.2e}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


FIGURES: list[tuple[str, str, Callable[..., None]]] = [
    ("std_vs_closed_form.png", "Forward Euler-Maruyama std vs the closed-form sigma_t", _std_figure),
    ("qq_samplers.png", "QQ plots of sampler outputs vs the exact p_eps (whitened)", _qq_figure),
    ("convergence_orders.png", "Convergence orders of the PF-ODE samplers (log-log)", _order_figure),
    ("likelihood_errors.png", "ODE log-likelihood minus its closed form", _likelihood_figure),
]


def make_figures(backend: Any, directory: str, *, seed: int = 0, stream: Any = None) -> tuple[list[tuple[str, str]], str]:
    """Write the figures to ``directory``; returns ([(caption, path)], note about what was skipped)."""
    out = stream if stream is not None else sys.stdout
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "figures skipped: matplotlib is not installed (pip install 'refsde[plot]')"
    os.makedirs(directory, exist_ok=True)
    made, skipped = [], []
    with refsde.use_backend(backend):
        for filename, caption, fn in FIGURES:
            path = os.path.join(directory, filename)
            print(f"refsde validate: figure {filename} ...", file=out, flush=True)
            try:
                fn(plt, backend, path, seed)
                made.append((caption, path))
            except Exception as exc:  # noqa: BLE001 - a figure that cannot be made is reported, not fatal
                skipped.append(f"{filename} ({type(exc).__name__}: {exc})")
    return made, ("figures skipped: " + "; ".join(skipped)) if skipped else ""


# ---- figures of the user's code (--impl) ---------------------------------------------------------------------------
def _panel(ax: Any, panel: dict) -> None:
    kind = panel["kind"]
    if kind == "curve":
        ax.plot(panel["x"], panel["expected"], "k-", lw=1, label="closed form (reference)")
        ax.plot(panel["x"], panel["got"], "o", ms=3, mfc="none", label="your code")
        ax.set_xlabel(panel.get("xlabel", ""))
        ax.set_ylabel(panel.get("ylabel", ""), fontsize=8)
        if panel.get("logy"):
            ax.set_yscale("log")
        if panel.get("logx"):
            ax.set_xscale("log")
    elif kind == "qq":
        lim = 1.0
        for label, p, q in panel["series"]:
            ref_q = np.array([norm_ppf(float(v)) for v in p])
            ax.plot(ref_q, q, ".", ms=2, label=label)
            lim = max(lim, abs(float(ref_q[0])), abs(float(ref_q[-1])))
        ax.plot([-lim, lim], [-lim, lim], "k-", lw=0.8, label="the exact law (slope 1)")
        ax.set_xlabel("N(0, 1) quantile")
        ax.set_ylabel("your samples, standardized by the exact law", fontsize=8)
    elif kind == "ladder":
        steps, errs = np.asarray(panel["steps"], float), np.asarray(panel["errors"], float)
        ax.loglog(steps, errs, "o-", label=f"your code (observed order {panel.get('observed_order', math.nan):.2f})")
        order = panel.get("expected_order")
        if order is not None and errs.size and errs[0] > 0:
            ax.loglog(steps, errs[0] * (steps / steps[0]) ** (-float(order)), "k--", lw=0.8, label=f"order {order}")
        ax.set_xlabel("steps")
        ax.set_ylabel(panel.get("ylabel", "error"), fontsize=8)
    elif kind == "hist":
        ax.hist(np.asarray(panel["values"], float), bins=40)
        ax.set_xlabel(panel.get("xlabel", ""), fontsize=8)
        ax.set_ylabel("inputs")
    ax.set_title(textwrap.fill(panel["title"], 60), fontsize=8)
    if kind != "hist":
        ax.legend(fontsize=7)


def make_impl_figures(results: Any, directory: str, *, stream: Any = None) -> tuple[list[tuple[str, str]], str]:
    """One figure per ``--impl`` row that recorded evidence, written to ``directory``; returns
    ([(caption, path)], note naming the rows without a figure)."""
    out = stream if stream is not None else sys.stdout
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "figures skipped: matplotlib is not installed (pip install 'refsde[plot]')"
    os.makedirs(directory, exist_ok=True)
    made, without = [], []
    for res in results:
        panels = list(getattr(res, "evidence", ()) or ())
        if not panels:
            if res.verdict != "SKIP":
                without.append(res.name)
            continue
        filename = f"{res.name.replace('.', '_')}.png"
        path = os.path.join(directory, filename)
        title = f"{res.piece or res.name}, checked by check_{res.name.removeprefix('impl.')}: {res.verdict}"
        cols = min(3, len(panels))
        rows = -(-len(panels) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False)
        for ax, panel in zip(axes.ravel(), panels):
            _panel(ax, panel)
        for ax in axes.ravel()[len(panels):]:
            ax.axis("off")
        fig.suptitle(title, fontsize=10, color="black" if res.verdict == "PASS" else "darkred")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        print(f"refsde validate: figure {filename} ({title})", file=out, flush=True)
        made.append((title, path))
    note = ("no figure for " + ", ".join(without) + " (their checks are deterministic comparisons or stopped before "
            "computing anything to draw; the table has their numbers)") if without else ""
    return made, note
