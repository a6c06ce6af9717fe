"""Where a fixed-step sampler's time goes relative to the hand-written loop: RK4 on the PF ODE, taken apart.

``python -m refsde_validation.bench.rk4_anatomy [--backend torch] [--n 32] [--d 3072] [--steps 100] [--processes 5]``
(``python -m validation.bench.rk4_anatomy`` from the source tree).

Benchmark 1 (:mod:`.samplers`) compares ``sample_ode(method="rk4")`` with the hand loop
:func:`.hand_loops.rk4_loop`.  Both issue the same array operations (checked with torch's profiler: 360
mul, 160 sub, 60 add per 20 steps at (32, 3072)), so a ratio above 1 is Python work or where the arrays
land in memory.  This probe times, interleaved in one process against the hand loop (ratio 1):

* ``copy``: a second, literally identical copy of the hand loop (the A/A noise of the method);
* ``steps``: the same operations written through refsde's RK4 step function with the coefficients looked
  up in refsde's host table (refsde's structure, no checks);
* ``watch``: ``steps`` plus the NaN watch of the state every 16 steps;
* ``checked``: ``watch`` plus the checked score wrapper (shape and dtype on every call);
* ``sample_ode``: the public call (validation, tables, info).

It repeats that in ``--processes`` fresh processes, because the ratio moves from process to process
(allocation placement) by more than within one.  The allocator is pinned as in ``refsde validate --bench``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

VARIANTS = ("loop", "copy", "steps", "watch", "checked", "sample_ode")


def _variants(backend: Any, n: int, d: int, n_steps: int) -> dict[str, Callable[[], Any]]:
    from refsde._arrays import host_array, host_floats, linspace_floats
    from refsde._checks import CheckedScore
    from refsde.ode.fixed_step import RK4, rk_step, stage_times
    from refsde.sampling import sample_ode
    from refsde.sampling._loop import NaNWatch, time_scalars
    from refsde.sde.reverse import pf_drift

    from . import hand_loops
    from .problems import linear_score, vp_sde
    from .samplers import EPS

    sde = vp_sde()
    x_T = backend.xp.astype(sde.prior_sample((n, d), 0, backend=backend), backend.default_dtype)
    namespace = dict(vars(hand_loops))
    exec(inspect.getsource(hand_loops.rk4_loop), namespace)  # noqa: S102 - a second code object, same source
    rk4_copy = namespace["rk4_loop"]
    times = linspace_floats(sde.T, EPS, n_steps)
    stages = list(dict.fromkeys(t for k in range(n_steps) for t in stage_times(RK4, times[k], times[k + 1] - times[k])))
    t_arr = host_array(stages, x_T)
    f_at = dict(zip(stages, host_floats(sde.drift_coefficient(t_arr))))
    g2_at = dict(zip(stages, host_floats(sde.diffusion_squared(t_arr))))
    make_t = time_scalars(x_T)

    def through_steps(score: Any, watch: bool) -> Any:
        def drift(t: float, x: Any) -> Any:
            return pf_drift(f_at[t], g2_at[t], x, score, make_t(t))  # as refsde.sampling.pf_ode._fixed_steps

        nan_watch = NaNWatch(x_T, times) if watch else None
        x = x_T
        for k in range(n_steps):
            x = rk_step(RK4, drift, times[k], times[k + 1] - times[k], x)
            if nan_watch is not None:
                nan_watch.after(k, x)
        return x

    return {
        "loop": lambda: hand_loops.rk4_loop(linear_score, sde, x_T, n_steps, EPS),
        "copy": lambda: rk4_copy(linear_score, sde, x_T, n_steps, EPS),
        "steps": lambda: through_steps(linear_score, False),
        "watch": lambda: through_steps(linear_score, True),
        "checked": lambda: through_steps(CheckedScore(linear_score, nan="first"), True),
        "sample_ode": lambda: sample_ode(linear_score, sde, x_T, n_steps, eps=EPS, method="rk4")[0],
    }


def one_process(backend_name: str, n: int, d: int, n_steps: int, repeats: int) -> dict[str, float]:
    """Median time of every variant over ``repeats`` interleaved rounds, divided by the hand loop's."""
    from refsde.backends import get_backend

    from .run import DTYPES
    from .samplers import _block
    from .system import pin_allocator

    pin_allocator()
    backend = get_backend(backend_name, dtype=DTYPES.get(backend_name, "float64"))
    block = _block(backend)
    variants = _variants(backend, n, d, n_steps)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():
        block(fn())  # warm-up
    for r in range(repeats):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            start = time.perf_counter()
            block(variants[name]())
            seconds[name].append(time.perf_counter() - start)
    loop = statistics.median(seconds["loop"])
    out = {name: statistics.median(s) / loop for name, s in seconds.items()}
    out["loop_seconds"] = loop
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--d", type=int, default=3 * 32 * 32)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(one_process(args.backend, args.n, args.d, args.steps, args.repeats)))
        return 0
    module = __spec__.name if __spec__ else "validation.bench.rk4_anatomy"
    command = [sys.executable, "-m", module, "--child", "--backend", args.backend, "--n", str(args.n), "--d",
               str(args.d), "--steps", str(args.steps), "--repeats", str(args.repeats)]
    print(f"RK4 on the PF ODE, {args.backend}, (n, d) = ({args.n}, {args.d}), {args.steps} steps, linear score; "
          f"median time / hand loop's, {args.repeats} interleaved rounds per process")
    print("| process | " + " | ".join(VARIANTS[1:]) + " | hand loop per step |")
    print("|---|" + "---|" * len(VARIANTS))
    results = []
    for p in range(args.processes):
        out = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        results.append(out)
        cells = " | ".join(f"{out[name]:.3f}" for name in VARIANTS[1:])
        print(f"| {p + 1} | {cells} | {out['loop_seconds'] / args.steps * 1e6:.0f} us |")
    medians = " | ".join(f"{statistics.median(r[name] for r in results):.3f}" for name in VARIANTS[1:])
    print(f"| median | {medians} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
