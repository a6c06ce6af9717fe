"""Benchmark 5 and the machine description: ``import refsde`` time, the validation suite's wall time.

``import refsde`` is timed inside fresh child processes (interpreter start-up excluded: the child reads
``time.perf_counter`` around the import statement), median of several; each child also reports whether
torch, jax or cupy ended up in ``sys.modules`` (they must not: the backends import them lazily).
The validation suite is timed as the wall time of a child ``python -m refsde validate --backend B``.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time

IMPORT_TARGET = 0.3
HEAVY = ("torch", "jax", "cupy")

IMPORT_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import refsde
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "heavy": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


@dataclasses.dataclass(frozen=True)
class ImportTiming:
    seconds: tuple[float, ...]
    heavy_modules: tuple[str, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def time_import(repeats: int) -> ImportTiming:
    """Median-able ``import refsde`` times of ``repeats`` fresh processes and any heavy module imported."""
    seconds: list[float] = []
    heavy: set[str] = set()
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", IMPORT_CHILD], capture_output=True, text=True,
                             check=True, env=_child_env(), timeout=300)
        data = json.loads(out.stdout.strip().splitlines()[-1])
        seconds.append(float(data["seconds"]))
        heavy.update(data["heavy"])
    return ImportTiming(tuple(seconds), tuple(sorted(heavy)))


@dataclasses.dataclass(frozen=True)
class SuiteTiming:
    seconds: float
    returncode: int
    summary: str


def time_validation_suite(backend: str, dtype: str | None) -> SuiteTiming:
    """Wall time of ``python -m refsde validate --backend backend`` in a child process."""
    cmd = [sys.executable, "-m", "refsde", "validate", "--backend", backend]
    if dtype is not None:
        cmd += ["--dtype", dtype]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), timeout=3600)
    seconds = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    return SuiteTiming(seconds, proc.returncode, lines[-1] if lines else proc.stderr.strip()[-200:])


def pin_allocator() -> str:
    """Fix glibc malloc's trim and mmap thresholds in this process (``mallopt``); returns what was done.

    With glibc's defaults the thresholds adapt at run time: freed buffers of a few hundred kB are returned
    to the kernel (heap trimming, munmap) and the next allocation page-faults them back in.  How often that
    happens depends on how many temporaries are alive at each moment, so two loops doing identical
    arithmetic differed by +-10-25 % depending on expression order (measured: refsde EM with the Gaussian
    score 1.10x, RK4 0.89x, and both ~1.00x with fixed thresholds; all runs ~20 % faster).  The benchmark
    compares per-step overhead, so it fixes the thresholds for the whole benchmark process (both sides);
    the library itself never touches the allocator.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if platform.system() != "Linux" or not name:
        return "allocator: system default (not glibc/Linux)"
    try:
        libc = ctypes.CDLL(name)
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc malloc.h
        ok = libc.mallopt(M_TRIM_THRESHOLD, 512 * 2**20) == 1 and libc.mallopt(M_MMAP_THRESHOLD, 32 * 2**20) == 1
    except (OSError, AttributeError):
        ok = False
    if not ok:
        return "allocator: glibc defaults (mallopt unavailable)"
    return "allocator: glibc with fixed thresholds (mallopt M_TRIM_THRESHOLD = 512 MiB, M_MMAP_THRESHOLD = 32 MiB)"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_lines(backend: object, allocator: str = "allocator: not pinned") -> list[str]:
    """Markdown bullet lines naming the machine, the libraries, the thread settings and the allocator."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    libs = ", ".join(f"{d} {_version(d)}" for d in ("refsde", "numpy", "array-api-compat", "scipy", "torch",
                                                      "array-api-strict"))
    return [
        f"- CPU: {cpu_model()}; {os.cpu_count()} logical cores ({usable} usable by this process)",
        f"- OS: {platform.platform()}; Python {platform.python_version()}",
        f"- Libraries: {libs}",
        f"- OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; backend: {backend}",
        f"- {allocator} (see `bench.system.pin_allocator`)",
    ]
