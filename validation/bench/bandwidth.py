"""Benchmark 6: memory throughput of the Euler-Maruyama sampler step, as a fraction of the device's bandwidth.

An Euler-Maruyama step with a cheap score is memory-bound: every elementwise operation streams whole
arrays through memory and does almost no arithmetic per byte.  Its throughput is therefore judged against
the bandwidth the same library reaches on the same device for the simplest streaming kernel, STREAM's
"copy" b[:] = a into a preallocated b (McCalpin 1995; read N bytes, write N bytes), best of the repeats.

Traffic model of one step with the linear score s = -x / 2 (N = n d itemsize bytes; a binary operation
reads two arrays and writes one, 3N; an array-with-scalar operation reads one and writes one, 2N):

* score -0.5 x: 2N;  f x: 2N;  g^2 s: 2N;  f x - g^2 s: 3N;  (..) h: 2N;  x - (..): 3N  (the mean);
* sqrt(g^2 h) z: 2N;  mean + (..): 3N;  drawing z: N (written once);  total 20N (the NaN watch's one
  reduction every 16 steps, N / 16, is not charged).

The hand-written loop (hand_loops.euler_maruyama_loop) issues the same operations, so both sides are
charged 20N per step.  "Issued traffic / time" measures how close the array library gets to streaming
speed on the operations it runs (target >= 0.7 of the STREAM figure); a single fused kernel would move
only 3N (read x and z, write x'), which the last fraction column shows: what a hand-fused CUDA kernel
could reach, beyond what array-level code can express.

Sizes: 2^23 elements on a CPU (64 MiB float64, 32 MiB float32: far past L2, though a server's shared L3
may hold a few such arrays; this machine's is 260 MiB), 2^26 on an accelerator (256 MiB float32, past a
GPU's L2), timed over 20 steps per call (setup is a few vectorized coefficient evaluations, negligible
here).  On a CPU, temporaries this large come from fresh pages (glibc mmap above its threshold), which the
kernel faults in and zeroes on first touch: that cost is in the step times of both sides, as in any array
code at this size, but not in the STREAM figure (an allocating b = 2 a measured 4.9-12.5 GB/s from run to
run on torch here; the copy into a preallocated b is stable to 3%).  GPU array libraries keep freed
blocks in a caching allocator, so there the fraction measures the kernels themselves.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any, Callable

from .timing import compare, time_once

EM_BYTES_PER_ELEMENT_PASS = 20  # issued traffic of one EM step, in units of N (module doc)
FUSED_BYTES_PER_ELEMENT_PASS = 3  # read x, read z, write x'
TARGET_FRACTION = 0.7
STEPS = 20


@dataclasses.dataclass(frozen=True)
class BandwidthRow:
    n: int
    d: int
    itemsize: int
    stream_bytes_per_s: float
    refsde_step_s: float
    loop_step_s: float

    @property
    def bytes_per_step(self) -> int:
        return EM_BYTES_PER_ELEMENT_PASS * self.n * self.d * self.itemsize

    def fraction(self, step_s: float) -> float:
        """Issued traffic per second over the STREAM bandwidth."""
        return self.bytes_per_step / step_s / self.stream_bytes_per_s

    def fused_fraction(self, step_s: float) -> float:
        """The traffic a single fused kernel would need, per second, over the STREAM bandwidth."""
        return FUSED_BYTES_PER_ELEMENT_PASS * self.n * self.d * self.itemsize / step_s / self.stream_bytes_per_s


def stream_copy_bandwidth(backend: Any, n_elements: int, repeats: int, block: Callable[[Any], Any]) -> float:
    """Bytes per second of STREAM's copy b[:] = a into a preallocated b (no allocation, no page faults: the
    memory system's own speed), best of ``repeats``; libraries without in-place assignment (JAX) time the
    allocating b = 2 a instead."""
    xp = backend.xp
    a = xp.ones((n_elements,), dtype=backend.default_dtype, device=backend.device)
    b = xp.zeros((n_elements,), dtype=backend.default_dtype, device=backend.device)
    itemsize = int(backend.to_numpy(a[:1]).dtype.itemsize)

    def copy() -> Any:
        b[...] = a
        return b

    try:
        block(copy())  # warm-up: b's pages are touched here, before timing
    except (TypeError, NotImplementedError, AttributeError, ValueError):  # immutable arrays

        def copy() -> Any:
            return 2.0 * a

        block(copy())
    best = min(time_once(copy, block)[0] for _ in range(repeats))
    return 2.0 * n_elements * itemsize / best


def run_bandwidth_benchmarks(
    backend: Any, sizes: list[tuple[int, int]], repeats: int, log: Callable[[str], None] = print
) -> list[BandwidthRow]:
    """One row per (n, d): the EM step time of refsde and of the hand loop against the STREAM figure."""
    from refsde import make_rng

    from .problems import linear_score, vp_sde
    from .samplers import _block, sampler_pairs

    block = _block(backend)

    def block_vector(result: Any) -> Any:
        return backend.to_numpy(result[:1])

    sde = vp_sde()
    rows = []
    for n, d in sizes:
        stream = stream_copy_bandwidth(backend, n * d, max(repeats, 5), block_vector)
        x_T = backend.xp.astype(sde.prior_sample((n, d), make_rng(1, backend)), backend.default_dtype)
        itemsize = int(backend.to_numpy(x_T[:1, :1]).dtype.itemsize)
        em_a, em_b = sampler_pairs(linear_score, sde, x_T, STEPS)["euler_maruyama"]
        cmp = compare(f"bandwidth n={n} d={d}", em_a, em_b, repeats, block)
        row = BandwidthRow(n, d, itemsize, stream, statistics.median(cmp.times_a) / STEPS,
                           statistics.median(cmp.times_b) / STEPS)
        rows.append(row)
        log(f"  bandwidth n={n} d={d}: STREAM {stream / 1e9:.1f} GB/s, refsde {row.fraction(row.refsde_step_s):.2f}, "
            f"loop {row.fraction(row.loop_step_s):.2f} of it")
    return rows


def bandwidth_table(rows: list[BandwidthRow]) -> list[str]:
    from .tables import _fmt_s, _verdict, table

    out = []
    for r in rows:
        fa, fb = r.fraction(r.refsde_step_s), r.fraction(r.loop_step_s)
        out.append([f"({r.n}, {r.d})", f"{r.n * r.d * r.itemsize / 2**20:.0f} MiB", f"{r.stream_bytes_per_s / 1e9:.1f} GB/s",
                    _fmt_s(r.refsde_step_s), f"{fa:.2f}", _fmt_s(r.loop_step_s), f"{fb:.2f}",
                    f"{r.fused_fraction(r.refsde_step_s):.2f}", _verdict(fa >= TARGET_FRACTION)])
    return table(["(n, d)", "state", "STREAM copy", "refsde step", "refsde fraction", "loop step", "loop fraction",
                  "fused-kernel fraction (3N)", f"target >= {TARGET_FRACTION}"], out)
