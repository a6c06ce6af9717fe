"""Benchmark 1: refsde's fixed-step samplers against hand-written loops (:mod:`.hand_loops`).

Work: the reverse VP-SDE (beta_min = 0.1, beta_max = 20, T = 1, eps = 1e-3) from a prior draw x_T, with

* the exact Gaussian score (``refsde.gaussian.Gaussian(0, diag(linspace(0.5, 2, d))).score_fn(sde)``,
  O(n d^2) per call: the score dominates, as a network would; for d > 1024 the same score written
  elementwise, ``diagonal``, O(n d)), and
* a cheap linear score s(x, t) = -x / 2 (the score of N(0, 2 I); not the exact score of any VP marginal,
  which does not matter for timing): one elementwise pass, so the sampler's own overhead is visible.
  (The exact score of N(0, I) data, -x, would make the probability-flow drift vanish identically.)

Samplers: ``sample_sde(method="euler_maruyama")``, ``sample_ode(method="rk4")`` and
``sample_pc(predictor="euler_maruyama", corrector="langevin", snr=0.16)``.  Both sides start from the same
x_T and (for the stochastic ones) draw from the same seeded backend RNG stream, so their outputs agree to
rounding; the largest absolute difference is reported as a check that the work is the same.  One
exception: the PC rows at d = 2 show differences of order 1 to 1000.  score_sde's Langevin step
e = 2 alpha (snr ||z|| / ||s||)^2 is per sample, and where ||s|| is tiny (a sample near the origin under
the linear score) e explodes and amplifies the last-bit differences of the two sides' arithmetic; measured
on torch float32 (20000, 2): 133 of 20000 samples differ by more than 1e-3 (they end at |x| up to 946,
typical |x| 4.9), the median difference is 1.1e-6.

Sizes (full configuration): (20000, 2) and (32, 3072) at 100 steps with both scores (a sampler's cost per
step does not depend on the step count, so the ratio at 100 steps is the ratio at 1000), and the issue's
own (100000, 2) and (256, 3072) at 1000 steps with the linear score, where the per-step overhead shows most.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from . import hand_loops as loops
from .problems import SEED, DiagonalGaussianScore, gaussian_score, linear_score, vp_sde
from .timing import Comparison, compare

SNR = 0.16
EPS = 1e-3
TARGET_RATIO = 1.05


@dataclasses.dataclass(frozen=True)
class SamplerRow:
    sampler: str
    n: int
    d: int
    score: str
    n_steps: int
    comparison: Comparison
    max_abs_diff: float

    @property
    def target(self) -> float:
        return TARGET_RATIO


FULL_COVARIANCE_MAX_D = 1024


def scores_for(backend: Any, sde: Any, d: int) -> dict[str, Any]:
    """The cheap linear score and an exact data score: the full-covariance oracle (O(n d^2) per call) up to
    d = FULL_COVARIANCE_MAX_D, above it the elementwise diagonal one (O(n d), same law; its d^2 matmuls
    would take minutes per run at image sizes)."""
    if d <= FULL_COVARIANCE_MAX_D:
        return {"linear": linear_score, "gaussian": gaussian_score(backend, d)}
    return {"linear": linear_score, "diagonal": DiagonalGaussianScore(backend, sde, d)}


def _block(backend: Any) -> Callable[[Any], Any]:
    """Force completion of a result (sample or (sample, info)) with a one-element device-to-host copy."""

    def block(result: Any) -> Any:
        x = result[0] if isinstance(result, tuple) else result
        return backend.to_numpy(x[0, ...])

    return block


def _max_abs_diff(backend: Any, a: Any, b: Any) -> float:
    xp = backend.xp
    return float(backend.to_numpy(xp.max(xp.abs(a - b))))


def sampler_pairs(score: Any, sde: Any, x_T: Any, n_steps: int) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """name -> (refsde call, baseline call), each returning the final sample."""
    from refsde import make_rng
    from refsde.backends import backend_of
    from refsde.sampling import sample_ode, sample_pc, sample_sde

    backend = backend_of(x_T)

    def em_a() -> Any:
        return sample_sde(score, sde, x_T, n_steps, eps=EPS, method="euler_maruyama", rng=SEED)[0]

    def em_b() -> Any:
        return loops.euler_maruyama_loop(score, sde, x_T, n_steps, EPS, make_rng(SEED, backend))

    def rk4_a() -> Any:
        return sample_ode(score, sde, x_T, n_steps, eps=EPS, method="rk4")[0]

    def rk4_b() -> Any:
        return loops.rk4_loop(score, sde, x_T, n_steps, EPS)

    def pc_a() -> Any:
        return sample_pc(score, sde, x_T, n_steps, eps=EPS, predictor="euler_maruyama", corrector="langevin",
                         snr=SNR, rng=SEED)[0]

    def pc_b() -> Any:
        return loops.pc_loop(score, sde, x_T, n_steps, EPS, make_rng(SEED, backend), SNR)

    return {"euler_maruyama": (em_a, em_b), "ode_rk4": (rk4_a, rk4_b), "pc_em_langevin": (pc_a, pc_b)}


def run_sampler_benchmarks(
    backend: Any, sizes: list[tuple[int, int]], n_steps: int, repeats: int, log: Callable[[str], None] = print,
    score_names: tuple[str, ...] | None = None,
) -> list[SamplerRow]:
    """All (sampler, size, score) comparisons on ``backend`` (its default dtype); ``score_names`` keeps only
    those scores ("linear", "gaussian", "diagonal"; default all)."""
    from refsde import make_rng

    sde = vp_sde()
    rows: list[SamplerRow] = []
    block = _block(backend)
    for n, d in sizes:
        x_T = sde.prior_sample((n, d), make_rng(SEED + 1, backend))
        x_T = backend.xp.astype(x_T, backend.default_dtype)
        for score_name, score in scores_for(backend, sde, d).items():
            if score_names is not None and score_name not in score_names:
                continue
            for name, (fn_a, fn_b) in sampler_pairs(score, sde, x_T, n_steps).items():
                diff = _max_abs_diff(backend, fn_a(), fn_b())  # these two calls are also the warm-up
                cmp = compare(f"{name} n={n} d={d} {score_name}", fn_a, fn_b, repeats, block, warmup=False)
                rows.append(SamplerRow(name, n, d, score_name, n_steps, cmp, diff))
                log(f"  {name:15s} n={n:<6d} d={d:<5d} {score_name:8s} ratio {cmp.median_ratio:.3f} "
                    f"(IQR {cmp.ratio_iqr[0]:.3f}-{cmp.ratio_iqr[1]:.3f}), refsde {cmp.median_a:.3f} s, "
                    f"max|diff| {diff:.1e}")
    return rows
