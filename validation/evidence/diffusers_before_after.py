"""Before / after: diffusers' schedulers and the planted bugs of :mod:`.diffusers_schedulers` under the sampler
checks of refsde ``0ea9a44`` (before the redesign) and of this tree.

``python -m refsde_validation.evidence.diffusers_before_after --old PATH`` with PATH a checkout of 0ea9a44
(``git worktree add PATH 0ea9a44``; nothing there is written) prints the table.  The old checks run in a
subprocess whose ``sys.path`` starts with PATH (started outside this repository, so that its ``refsde`` is
the old one); they import the adapters and planted bugs from here (which import no refsde at module import).

What the old checks offered: the data fixed (N(m, Q diag(0.02, 0.5, 2) Q^T), |m| = 1.1), refsde's own grid
linspace(T, eps, n_steps + 1), and

* ``method=None``: the continuous target at ``eps`` (the reverse-SDE law / the exact flow map), with a band of
  2 x Euler-Maruyama's / Euler's error at n_steps on refsde's grid;
* ``method=`` one of euler_maruyama, reverse_diffusion, ancestral, ddim (SDE, eta = 1) / euler, heun, rk4,
  ddim (ODE, eta = 0), on refsde's grid (chain levels N = n_steps for ancestral).

So that both sides judge against the same reference, the old run uses this tree's :class:`TabulatedSchedule`
/ :class:`EDMSchedule` source compiled onto the old :class:`ScheduleSDE` (:func:`_old_references`), and the
old exact score wrapped with ``eps`` / ``x0`` / ``denoiser`` (:class:`_OldScore`; the old score had no such
helpers).  ``eps`` is the old default 1e-3 = 1 / N, the first table time (EDM: sigma_min = 0.002), the
smallest time the schedulers know (the old checks have no step to 0, no final Tweedie step).  The old
method= run maps each scheduler to the nearest old scheme (:data:`OLD_METHOD`); rows
without one (DPM-Solver, Euler ancestral) have no old method= check.  Defaults otherwise (n = 256 paths, the
SDE check's designed sample size, alpha = 1e-6, seed 0), float32 on torch.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import diffusers_schedulers as ds

OLD_COMMIT = "0ea9a44"
#: The nearest scheme the old checks knew (on refsde's grid), per row; None: none.
OLD_METHOD = {
    "ddpm_fixed_small": "ancestral", "ddpm_fixed_large": "ancestral", "ddim_eta0": "ddim", "ddim_eta1": "ddim",
    "dpmpp_2m": None, "dpmpp_3m": None, "dpm_2m_noise": None, "euler": "ddim", "heun": "heun",
    "euler_ancestral": None, "edm_euler": "ddim",
}
ROOT = Path(__file__).resolve().parents[2]
#: Label suffix of the old runs with clip_sample=False (the old checks' fixed data is not clip-safe).
NOCLIP = " (clip_sample=False)"


# ---- the old side (runs in the subprocess) ---------------------------------------------------------------------------
def _old_references() -> dict[str, Any]:
    """This tree's TabulatedSchedule / EDMSchedule source compiled into the old ``refsde.sde.schedule`` namespace
    (subclasses of the old ScheduleSDE: the same closed forms, exact coefficients)."""
    import refsde.sde.schedule as old

    src = (ROOT / "refsde" / "sde" / "schedule.py").read_text(encoding="utf-8")
    src = src[src.index("# ---- schedules as users have them"):]
    namespace = dict(vars(old))
    namespace["math"] = math
    exec(compile(src, "<this tree's TabulatedSchedule on the old ScheduleSDE>", "exec"), namespace)  # noqa: S102
    return {"table": namespace["TabulatedSchedule"], "edm": namespace["EDMSchedule"]}


class _OldScore:
    """The old exact score with the helpers the adapters call (noise prediction, Tweedie, EDM denoiser)."""

    def __init__(self, score_fn: Any, ref: Any) -> None:
        self.score_fn, self.ref = score_fn, ref

    def __call__(self, x: Any, t: Any) -> Any:
        return self.score_fn(x, t)

    def _coef(self, t: float) -> tuple[float, float]:
        import numpy as np

        a, s = self.ref.marginal_coefficients(np.asarray([float(t)]))
        return float(np.asarray(a)[0]), float(np.asarray(s)[0])

    def eps(self, x: Any, t: Any) -> Any:
        return -self._coef(float(t))[1] * self.score_fn(x, float(t))

    def x0(self, x: Any, t: Any) -> Any:
        a, s = self._coef(float(t))
        return (x + s * s * self.score_fn(x, float(t))) / a

    def denoiser(self, x: Any, sigma: Any) -> Any:  # alpha = 1 references (EDM): t = sigma
        return self.x0(x, float(sigma))


def _wrap(sampler: Any, ref: Any) -> Any:
    return lambda score_fn, x_T, n_steps: sampler(_OldScore(score_fn, ref), x_T, n_steps)


def _old_verdict(call: Any) -> dict[str, Any]:
    from refsde.testing import ConformanceError

    try:
        call()
    except ConformanceError as e:
        return {"verdict": "fail", "prop": e.property, "statistic": e.statistic, "threshold": e.threshold}
    except ValueError as e:
        return {"verdict": "error", "prop": f"ValueError: {e}"}
    return {"verdict": "pass"}


def _old_runs(case: ds.Case, cls: Any, clip_sample: bool | None = None) -> dict[str, Any]:
    from refsde.testing import check_ode_sampler, check_sde_sampler

    refs = _old_references()
    s = cls(**case.config)
    config = dict(case.config) if clip_sample is None else {**case.config, "clip_sample": clip_sample}
    if case.interpolation is None:
        ref = refs["edm"](float(s.config.sigma_max))
    else:
        ref = refs["table"](s.alphas_cumprod, interpolation=case.interpolation)
    sampler = _wrap(case.adapter(cls, config, ds.SEED), ref)
    s.set_timesteps(case.n_steps)
    eps = float(s.sigmas[-2]) if case.interpolation is None else ds.ref_time(s, 0)  # EDM: sigma_min; tables: 1 / N
    check = check_sde_sampler if case.kind == "sde" else check_ode_sampler
    kw = dict(backend="torch", dtype="float32")
    out = {"eps": eps, "none": _old_verdict(lambda: check(sampler, ref, case.n_steps, eps, **kw))}
    method = OLD_METHOD.get(case.name)
    if method is not None:
        out["method"] = method
        out["old_method"] = _old_verdict(lambda: check(sampler, ref, case.n_steps, eps, method=method, **kw))
    return out


def _old_worker() -> None:
    """Every row under the old checks, as JSON on stdout (run with the old refsde first on sys.path)."""
    import refsde

    rows = {"refsde": str(Path(refsde.__file__).resolve().parent)}
    for case in ds.CASES:
        rows[case.name] = _old_runs(case, case.cls())
        if case.clip_safe:  # the old checks' data is not clip-safe: the same row with clip_sample=False, for reference
            rows[case.name + NOCLIP] = _old_runs(case, case.cls(), clip_sample=False)
    for bug in ds.PLANTED:
        case = ds.find_case(bug.case)
        rows[bug.name] = _old_runs(case, bug.scheduler_class())
        if case.clip_safe:
            rows[bug.name + NOCLIP] = _old_runs(case, bug.scheduler_class(), clip_sample=False)
    print(json.dumps(rows))


def old_rows(old_root: str) -> dict[str, Any]:
    """Run :func:`_old_worker` with the checkout ``old_root`` (refsde 0ea9a44) first on sys.path."""
    code = ("import sys; sys.path.insert(0, %r); import warnings; warnings.simplefilter('ignore'); "
            "from refsde_validation.evidence.diffusers_before_after import _old_worker; _old_worker()" % str(old_root))
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the old run failed:\n{proc.stderr[-4000:]}")
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    if Path(rows["refsde"]) != (Path(old_root) / "refsde").resolve():
        raise RuntimeError(f"the old run imported refsde from {rows['refsde']}, not from {old_root}")
    return rows


# ---- the table -------------------------------------------------------------------------------------------------------
def _reason(message: str) -> str:
    if "tolerance band" in message:
        return "cannot run: its band is wider than the 4% to detect"
    if "not defined" in message:
        return "cannot run: scheme not defined for this reference"
    return "cannot run: " + message[:60]


def _label(result: dict[str, Any] | None, correct: bool, control: dict[str, Any] | None = None) -> str:
    """The verdict on a row; a bug's failure counts as caught only where the correct scheduler (``control``)
    passes the same check."""
    if result is None:
        return "-"
    if result["verdict"] == "error":
        return _reason(result["prop"])
    if result["verdict"] == "pass":
        return "pass" if correct else "MISSED"
    stat = result.get("statistic")
    tail = f" ({result['prop']}" + (f", {stat:.3g} > {result['threshold']:.3g})" if stat is not None else ")")
    if correct:
        return "FALSE ALARM" + tail
    if control is not None and control["verdict"] != "pass":
        return "no verdict: the correct scheduler fails too" + tail
    return "caught" + tail


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help=f"a checkout of refsde {OLD_COMMIT}")
    args = parser.parse_args(argv)
    old = old_rows(args.old)
    print("| row | kind | before: method=None at eps | before: method= (refsde's grid) | after: method= (own grid) |")
    print("|---|---|---|---|---|")
    new = {c.name: ds.run_case(c) for c in ds.CASES}
    new.update({b.name: ds.run_bug(b) for b in ds.PLANTED})
    case_of = {b.name: b.case for b in ds.PLANTED}
    case_of.update({b.name + NOCLIP: b.case + NOCLIP for b in ds.PLANTED if ds.find_case(b.case).clip_safe})
    for label, o in old.items():
        if label == "refsde":
            continue
        correct = label not in case_of
        control = old[case_of[label]] if not correct else {}
        v = new.get(label)
        after = "-" if v is None else _label({"verdict": v.verdict, "prop": v.prop, "statistic": v.statistic,
                                               "threshold": v.threshold}, correct)
        before_none = _label(o["none"], correct, control.get("none"))
        before_m = "-"
        if "method" in o:
            before_m = f"{o['method']}: {_label(o['old_method'], correct, control.get('old_method'))}"
        print(f"| {label} | {'correct' if correct else 'bug'} | eps={o['eps']:.3g}: {before_none} | {before_m} | "
              f"{after} |")


if __name__ == "__main__":
    main()
