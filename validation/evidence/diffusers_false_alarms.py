"""False alarms on diffusers' correct schedulers, and the power on a bug near the detection limit.

``python -m refsde_validation.evidence.diffusers_false_alarms [--seeds 20] [--alpha 0.05]`` runs the check of
every correct row of :mod:`.diffusers_schedulers` (its default configuration, step count, grid and data) for
seeds 0 .. seeds - 1 at level ``alpha``: the check's seed (x_T) and the adapter's seed (diffusers'
``generator``, 2021 + seed) change together, so the runs are independent.  It prints the number of rejections
next to the expected count seeds * alpha and P(Binomial(seeds, alpha) >= observed).  The statistical checks
are Bonferroni over their 2 x 3 sub-tests, hence conservative (family-wise rate <= alpha).  The ODE checks
are deterministic (no false-alarm rate: a rejection there would be the rounding budget failing on some x_T).

Then the power study: :data:`BORDERLINE` (DDPM without the noise of its step from tau = 1, a -2.9% std error in
the 0.001 eigen-direction by its exact law, at the 3% the default sample size detects with power 0.99) at the
checks' default alpha = 1e-6 over the same seeds.  A study, not a unit test (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import time
from typing import Any

from . import diffusers_schedulers as ds
from .false_alarms import binomial_sf

#: A planted bug near the detection limit (not in ds.PLANTED: at the design limit, caught with probability ~0.99 per seed).
BORDERLINE = ds.Bug("ddpm_no_noise_at_tau1", "ddpm_fixed_small", "step", "if t > 0:", "if t > 1:",
                    "DDPM: no noise on the step from tau = 1 either (-2.9% std in the 0.001 direction)",
                    "output variance")


def count_rejections(case: ds.Case, seeds: int, alpha: float, cls: Any = None) -> tuple[int, list[int], float]:
    """(rejections, the seeds that rejected, seconds) of ``case``'s check over seeds 0 .. seeds - 1."""
    from refsde.testing import ConformanceError

    t0 = time.perf_counter()
    rejected = []
    for seed in range(seeds):
        try:
            ds.check_call(case, cls, seed=seed, alpha=alpha, adapter_seed=ds.SEED + seed)()
        except ConformanceError:
            rejected.append(seed)
    return len(rejected), rejected, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args(argv)
    print(f"| row | check | rejections / {args.seeds} at alpha = {args.alpha:g} | expected | P(>= observed) | "
          "seeds rejected | s |")
    print("|---|---|---|---|---|---|---|")
    for case in ds.CASES:
        k, which, sec = count_rejections(case, args.seeds, args.alpha)
        expected = f"<= {args.seeds * args.alpha:g}" if case.kind == "sde" else "0 (deterministic)"
        p = f"{binomial_sf(k, args.seeds, args.alpha):.3g}" if case.kind == "sde" else "-"
        print(f"| {case.name} | check_{case.kind}_sampler / {case.method} | {k} | {expected} | {p} | "
              f"{which or '-'} | {sec:.0f} |")
    print()
    case = ds.find_case(BORDERLINE.case)
    k, which, sec = count_rejections(case, args.seeds, ds.ALPHA, BORDERLINE.scheduler_class())
    print(f"power: {BORDERLINE.name} ({BORDERLINE.description}) caught in {k} / {args.seeds} seeds at alpha = "
          f"{ds.ALPHA:g} (missed at seeds {sorted(set(range(args.seeds)) - set(which)) or '-'}; {sec:.0f} s)")


if __name__ == "__main__":
    main()
