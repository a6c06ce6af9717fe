"""Benchmark 4: peak memory of a sampler and of the likelihood must not grow with the number of steps.

A fixed-step sampler keeps O(1) states of shape (n, d) alive, so its peak is c * n * d * itemsize with a
small constant c independent of the step count; a sampler that kept its trajectory would grow linearly.
We measure the peak at two step counts and report their ratio and the peak increase per extra step in
units of one state n d itemsize: a sampler that kept every step's state would add >= 1 per step, an
O(n d) one adds about 0 (we call it O(n d) below 0.05; the RSS method is noisy by a few states, which
spread over hundreds of extra steps stays far below that).

Method:

* NumPy-like backends (numpy, array_api_strict): ``tracemalloc`` peak over the call, after a warm-up call
  (NumPy reports its data buffers to tracemalloc), in a fresh child process so that the other benchmarks'
  garbage does not count.
* Other backends (torch CPU, ...): the kernel's peak resident set size of a fresh child process.  The
  child imports the backend and runs a tiny warm-up, resets the peak (``echo 5 > /proc/self/clear_refs``,
  Linux >= 4.0: VmHWM := current RSS), reads its RSS, runs the measured call (building x_T included) and
  reports VmHWM minus that RSS: an exact high-water mark, no polling, so no spike is missed.  The child
  runs with ``MALLOC_MMAP_THRESHOLD_=65536``: glibc then serves every buffer of 64 KiB or more by mmap and
  returns it on free, so freed tensors leave the RSS and the baseline holds no reusable free heap (with
  glibc's default dynamic threshold, freed buffers stayed resident in the heap and were reused, and the
  peak over the baseline read 0).  RSS also counts allocator caches and library workspaces, so this is an
  upper bound on the live arrays.  (``ru_maxrss`` alone does not work: importing torch sets a high-water
  mark above the sampler's, and it cannot be reset.)  Where clear_refs cannot be written, the child falls
  back to polling its RSS every 0.5 ms from a thread (a lower bound that can miss short spikes); the
  method used is reported.  GPU memory is not measured.

Work: ``sample_sde(method="euler_maruyama")`` with the linear score s = -x, and ``log_likelihood(method="rk4",
n_steps=...)`` with the exact Gaussian score of N(0, I) (only when ``refsde.likelihood`` is importable).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Any, Callable

CHILD = r"""
import json, sys, tracemalloc
import refsde
name, dtype, kind, n, d, steps, use_trace = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:8])
backend = refsde.get_backend(name, dtype=dtype)
xp = backend.xp
sde = refsde.VPSDE(beta_min=0.1, beta_max=20.0)

def run(n, d, steps):
    x = sde.prior_sample((n, d), refsde.make_rng(0, backend), dtype=backend.default_dtype)
    if kind == "sampler":
        from refsde.sampling import sample_sde
        out = sample_sde(lambda y, t: -y, sde, x, steps, method="euler_maruyama", rng=1)[0]
    else:
        from refsde.gaussian import Gaussian
        from refsde.likelihood import log_likelihood
        g = Gaussian(xp.zeros((d,), dtype=backend.default_dtype, device=backend.device),
                     xp.eye(d, dtype=backend.default_dtype, device=backend.device))
        out = log_likelihood(g.score_fn(sde), sde, x, eps=1e-5, method="rk4", n_steps=steps)[0]
    return backend.to_numpy(out[0:1])

run(4, d, 4)  # warm-up: imports, kernels
if use_trace:
    tracemalloc.start()
    run(n, d, steps)
    peak = tracemalloc.get_traced_memory()[1]
else:
    import os, threading
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * page

    def hwm():
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise OSError("no VmHWM")

    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak RSS (VmHWM) to the current RSS
        before = rss()
        hwm()
        method = "vmhwm"
    except OSError:
        method = "polled"
    if method == "vmhwm":
        run(n, d, steps)
        peak = hwm() - before
    else:
        before, high, done = rss(), [0], threading.Event()

        def poll():
            while not done.is_set():
                high[0] = max(high[0], rss())
                done.wait(0.0005)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        run(n, d, steps)
        done.set()
        thread.join()
        peak = max(high[0], rss()) - before
if use_trace:
    method = "tracemalloc"
print(json.dumps({"peak_bytes": peak, "method": method}))
"""

TRACED = ("numpy", "array_api_strict")


@dataclasses.dataclass(frozen=True)
class MemoryRow:
    kind: str
    n: int
    d: int
    steps: tuple[int, int]
    peaks: tuple[int, int]  # bytes
    itemsize: int
    method: str

    @property
    def growth(self) -> float:
        return self.peaks[1] / max(self.peaks[0], 1)

    @property
    def states_per_step(self) -> float:
        """Peak increase per extra step in units of one state: >= 1 if every step kept a state alive."""
        unit = self.n * self.d * self.itemsize
        return (self.peaks[1] - self.peaks[0]) / (unit * (self.steps[1] - self.steps[0]))

    @property
    def per_state(self) -> tuple[float, float]:
        """Peaks in units of one state n * d * itemsize."""
        unit = self.n * self.d * self.itemsize
        return (self.peaks[0] / unit, self.peaks[1] / unit)


METHODS = {
    "tracemalloc": "tracemalloc peak, child process",
    "vmhwm": "peak RSS (VmHWM after a clear_refs reset) minus RSS before, child process, MALLOC_MMAP_THRESHOLD_=64 KiB",
    "polled": "polled peak RSS minus RSS before (0.5 ms), child process, MALLOC_MMAP_THRESHOLD_=64 KiB",
}


def _child_peak(
    name: str, dtype: str, kind: str, n: int, d: int, steps: int, traced: bool | None = None
) -> tuple[int, str]:
    """(peak bytes, method key of :data:`METHODS`) of one measured call in a fresh child process;
    ``traced`` forces tracemalloc (True) or the RSS method (False), default by backend (:data:`TRACED`)."""
    trace = int(name in TRACED if traced is None else traced)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    if not trace:
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"  # buffers >= 64 KiB by mmap, returned on free (module doc)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, name, dtype, kind, str(n), str(d), str(steps), str(trace)],
        capture_output=True, text=True, env=env, timeout=1800,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"child exited with {proc.returncode}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return int(data["peak_bytes"]), str(data["method"])


def run_memory_benchmarks(
    name: str,
    dtype: str,
    sampler_size: tuple[int, int],
    likelihood_size: tuple[int, int],
    steps: tuple[int, int],
    log: Callable[[str], None] = print,
) -> tuple[list[MemoryRow], list[str]]:
    """Rows for the sampler (and the likelihood when available) and notes on what was skipped."""
    itemsize = 8 if dtype == "float64" else 4
    rows: list[MemoryRow] = []
    notes: list[str] = []
    for kind, (n, d) in (("sampler", sampler_size), ("likelihood", likelihood_size)):
        try:
            measured = [_child_peak(name, dtype, kind, n, d, s) for s in steps]
        except RuntimeError as exc:
            notes.append(f"{kind}: not measured ({exc})")
            log(f"  memory {kind}: not measured ({exc})")
            continue
        peaks = tuple(p for p, _ in measured)
        method = " / ".join(sorted({METHODS.get(m, m) for _, m in measured}))
        row = MemoryRow(kind, n, d, steps, peaks, itemsize, method)  # type: ignore[arg-type]
        rows.append(row)
        log(f"  memory {kind:10s} n={n} d={d}: {peaks[0] / 2**20:.1f} MiB at {steps[0]} steps, "
            f"{peaks[1] / 2**20:.1f} MiB at {steps[1]} steps (x{row.growth:.2f})")
    return rows, notes


def describe(rows: list[Any]) -> str:
    return "; ".join(f"{r.kind}: {r.method}" for r in rows)
