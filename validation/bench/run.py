"""Benchmarks of refsde against the baselines a user would write (``refsde validate --bench``).

Run ``refsde validate --bench [--quick] [--backend B] [--out DIR]`` (equivalently
``python -m refsde_validation.bench [--quick] [--backend B] [--out DIR]``).  Without ``--backend`` it
benchmarks ``REFSDE_BACKEND`` if set, else NumPy (float64) and torch CPU (float32, when installed).  Each
backend's results go to ``DIR/BENCH.md`` (default ``backends/<name>/BENCH.md`` of the source tree) with a
plot ``bench_ratios.png`` next to it when matplotlib is installed.

Sections (each its own module): 1. samplers vs hand-written loops (:mod:`.samplers`); 2. ODE
log-likelihood vs scipy's solve_ivp (:mod:`.likelihood`); 3. exact vs Hutchinson divergence
(:mod:`.divergence`); 4. peak memory vs step count (:mod:`.memory`); 5. ``import refsde``
time and the validation suite's wall time (:mod:`.system`); 6. memory throughput of the sampler step
(:mod:`.bandwidth`).  The work they time is in :mod:`.problems`.  Timings are interleaved A/B repeats
(:mod:`.timing`), with glibc malloc's trim / mmap thresholds fixed for the process
(:func:`.system.pin_allocator`: otherwise allocator page-fault churn moved ratios by +-10-25 %).
A section that cannot run (e.g. ``refsde.likelihood`` not there yet) is reported
as skipped with its reason; an exception in a section is reported and makes the exit code 1.
No timing is asserted anywhere: targets are reported as met / missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import traceback
from typing import Any, Callable, Sequence

DTYPES = {"numpy": "float64", "array_api_strict": "float64", "torch": "float32", "cupy": "float32",
          "jax": "float32"}


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """Sizes and repeats of one benchmark run."""

    label: str
    sampler_sizes: tuple[tuple[int, int], ...]
    sampler_steps: int
    sampler_repeats: int
    likelihood_dims: tuple[int, ...]
    likelihood_n: int
    likelihood_repeats: int
    divergence_dims: tuple[int, ...]
    divergence_n: int
    divergence_repeats: int
    end_to_end_dims: tuple[int, ...]
    memory_size: tuple[int, int]
    memory_likelihood_size: tuple[int, int]
    memory_steps: tuple[int, int]
    import_repeats: int
    time_suite: bool = True
    measure_memory: bool = True
    likelihood_large: tuple[tuple[int, int], ...] = ()  # (n, d) with the O(n d) diagonal score: realistic sizes
    # the issue's own sampler sizes and step count, with the cheap linear score only (where the sampler's
    # overhead shows most; an exact score at these sizes costs minutes per call)
    sampler_issue_sizes: tuple[tuple[int, int], ...] = ()
    sampler_issue_steps: int = 1000
    sampler_issue_repeats: int = 3
    # EM step throughput against STREAM (bench/bandwidth.py): (n, d) on a CPU and on an accelerator
    bandwidth_sizes: tuple[tuple[int, int], ...] = ((32_768, 256),)
    bandwidth_sizes_accelerator: tuple[tuple[int, int], ...] = ((262_144, 256),)
    bandwidth_repeats: int = 3
    # refsde's rk45 against torchdiffeq's dopri5 (bench/peers.py), torch backend only; () turns it off
    peer_dims: tuple[int, ...] = ()
    peer_n: int = 256
    peer_repeats: int = 5
    peer_dtypes: tuple[str, ...] = ("float32", "float64")
    peer_divergences: tuple[str, ...] = ("exact", "hutchinson")
    # the default-settings runtime of every refsde.testing check (bench/check_runtime.py), NumPy backend only
    time_checks: bool = False
    # torch.compile of a sampler step and an rk45 stage against eager (bench/compile_probe.py), torch CPU only
    compile_probe: bool = False


# full: about 7-8 min per backend on a busy 2-core machine (numpy; torch is faster), estimated from the quick
# run's per-call times: every sampler pair costs (1 + repeats) x 2 calls (the first pair is the max|diff| check
# and the warm-up); the full-covariance oracle is O(n d^2), so image-sized d uses the diagonal score.
FULL = BenchConfig("full", ((20_000, 2), (32, 3 * 32 * 32)), 100, 6, (2, 64, 768), 64, 5,
                   (2, 8, 32, 128, 256), 16, 5, (2, 8, 32), (256, 3 * 32 * 32), (1024, 64), (100, 400), 9,
                   likelihood_large=((256, 3 * 32 * 32),), sampler_issue_sizes=((100_000, 2), (256, 3 * 32 * 32)),
                   peer_dims=(2, 64, 768, 3 * 32 * 32), time_checks=True, compile_probe=True)
QUICK = BenchConfig("quick", ((20_000, 2), (32, 3 * 16 * 16)), 100, 5, (2, 64, 768), 16, 3,
                    (2, 8, 32, 128), 8, 3, (2, 8), (256, 3 * 16 * 16), (256, 64), (50, 200), 5,
                    likelihood_large=((256, 3 * 32 * 32),), bandwidth_sizes=((8192, 256),),
                    bandwidth_sizes_accelerator=((65_536, 256),), peer_dims=(2, 64), peer_repeats=3,
                    peer_divergences=("exact",), time_checks=True, compile_probe=True)


#: Section ids in file order, and their headings ("## <id>. <title>").
SECTION_IDS = ("1", "2", "2b", "3", "4", "5", "6", "7", "8")
SECTION_TITLES = {
    "1": "Samplers vs hand-written loops",
    "2": "ODE log-likelihood vs scipy solve_ivp(RK45)",
    "2b": "ODE log-likelihood vs torchdiffeq dopri5 (augmented state)",
    "3": "Exact divergence vs Hutchinson",
    "4": "Peak memory vs number of steps",
    "5": "Import time and validation suite",
    "6": "Memory throughput of the sampler step",
    "7": "Runtime of the refsde.testing checks",
    "8": "Step capture: torch.compile probe",
}
REGENERATE = ("Regenerate both backends' files with one command: `OMP_NUM_THREADS=1 refsde validate --bench` "
              "(numpy, then torch when installed; the torchdiffeq rows need `pip install -e .[bench]`).  Only some "
              "sections, spliced into the existing file: `OMP_NUM_THREADS=1 python -m refsde_validation.bench "
              "--backend B --sections 2,2b` (ids: " + ", ".join(SECTION_IDS) + ").")


def _split_sections(text: str) -> tuple[str, dict[str, str]]:
    """(header, {section id: its text from its '## ' heading on}) of a BENCH.md."""
    parts = text.split("\n## ")
    found = {}
    for part in parts[1:]:
        sid = part.split(".", 1)[0].strip()
        found[sid] = "## " + part
    return parts[0], found


def default_backends(backend: str | None) -> list[str]:
    """``backend``; else REFSDE_BACKEND; else numpy and torch (when torch is installed)."""
    if backend:
        return [backend]
    env = os.environ.get("REFSDE_BACKEND")
    if env:
        return [env]
    import importlib.util

    return ["numpy"] + (["torch"] if importlib.util.find_spec("torch") is not None else [])


def default_out_dir(name: str) -> str:
    """backends/<name> of the source tree (editable install), else of the working directory."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # validation/bench/run.py
    base = root if os.path.isdir(os.path.join(root, "backends")) else os.getcwd()
    return os.path.join(base, "backends", name)


def _section(title: str, body: Callable[[], list[str]], lines: list[str], log: Callable[[str], None]) -> bool:
    """Append a section; returns False if it raised (reported in the file), True otherwise."""
    from .likelihood import BenchSkipped

    log(f"[{title}]")
    lines += ["", f"## {title}", ""]
    start = time.perf_counter()
    try:
        lines += body()
        ok = True
    except BenchSkipped as exc:
        lines.append(f"Skipped: {exc}")
        log(f"  skipped: {exc}")
        ok = True
    except Exception as exc:  # noqa: BLE001 - reported, the run goes on
        lines.append(f"ERROR: {type(exc).__name__}: {exc}")
        log(f"  ERROR: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        ok = False
    log(f"  ({time.perf_counter() - start:.1f} s)")
    return ok


def bench_backend(
    name: str, config: BenchConfig, out_dir: str, log: Callable[[str], None] = print, allocator: str | None = None,
    sections: Sequence[str] | None = None,
) -> tuple[str, bool]:
    """Run every section on backend ``name``; write ``out_dir/BENCH.md``; return (its text, all ok).

    ``allocator`` describes the malloc settings (``run_bench`` pins them with
    :func:`.system.pin_allocator` before the first backend; a direct call leaves the process alone).
    ``sections`` (ids of :data:`SECTION_IDS`, e.g. ``["2", "2b"]``): run only those and splice them into the
    existing ``out_dir/BENCH.md`` (the other sections are kept as they were, the header says which were
    regenerated when); without an existing file it is written with those sections only."""
    import refsde

    from . import bandwidth as bw
    from . import divergence as div
    from . import likelihood as lik
    from . import memory as mem
    from . import samplers as smp
    from . import system as sysb
    from . import tables as rep

    allocator = allocator or "allocator: process defaults (not pinned)"
    dtype = DTYPES.get(name)
    backend = refsde.get_backend(name, dtype=dtype)
    dtype = dtype or str(backend.default_dtype)
    quick_flag = " --quick" if config.label == "quick" else ""
    lines = [f"# refsde benchmarks: {name} ({dtype})", "",
             f"Generated by `refsde validate --bench{quick_flag} --backend {name}` "
             f"(or `python -m refsde_validation.bench{quick_flag} --backend {name}`) on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; configuration `{config.label}`.", "",
             f"{REGENERATE}", "",
             *sysb.machine_lines(backend.describe(), allocator), "",
             "Method: every refsde/baseline pair runs the same work in the same process, interleaved "
             "(AB, BA, AB, ...) after one untimed warm-up each; a ratio is refsde time / baseline time of one "
             "repeat; we report the median ratio, its interquartile range and min-max. Ratios below 1 mean "
             "refsde is faster. Timings on a shared machine are noisy; the IQR shows how much."]
    ok = True
    sampler_rows: list[Any] = []

    def samplers() -> list[str]:
        sampler_rows.extend(smp.run_sampler_benchmarks(backend, list(config.sampler_sizes), config.sampler_steps,
                                                       config.sampler_repeats, log))
        if config.sampler_issue_sizes:
            sampler_rows.extend(smp.run_sampler_benchmarks(backend, list(config.sampler_issue_sizes),
                                                           config.sampler_issue_steps, config.sampler_issue_repeats,
                                                           log, score_names=("linear",)))
        os.makedirs(out_dir, exist_ok=True)
        plot = rep.write_plot(sampler_rows, os.path.join(out_dir, "bench_ratios.png"))
        if plot:
            note = f"Plot: `{os.path.basename(plot)}` (sampler ratios with IQR whiskers)."
        else:
            reason = "no sampler results" if not sampler_rows else "matplotlib is not installed; `pip install refsde[plot]`"
            note = f"Plot: skipped ({reason})."
        return [smp.__doc__.split("\n\n", 1)[1].strip(), "", *rep.sampler_table(sampler_rows), "", note]

    def likelihood() -> list[str]:
        rows = lik.run_likelihood_benchmarks(backend, list(config.likelihood_dims), config.likelihood_n,
                                             config.likelihood_repeats, log, large=config.likelihood_large)
        return [lik.__doc__.split("\n\n", 1)[1].strip(), "", *rep.likelihood_table(rows)]

    def peers() -> list[str]:
        from . import peers as prs

        if name != "torch":
            raise lik.BenchSkipped("torchdiffeq runs on torch tensors: these rows are in backends/torch/BENCH.md")
        if not config.peer_dims:
            raise lik.BenchSkipped("turned off in this configuration")
        rows = prs.run_peer_benchmarks(list(config.peer_dims), config.peer_n, config.peer_repeats,
                                       config.peer_dtypes, config.peer_divergences, log=log)
        return [prs.__doc__.split("\n\n", 1)[1].strip(), "", *rep.peer_table(rows)]

    def checks() -> list[str]:
        from . import check_runtime as chk

        if name != "numpy":
            raise lik.BenchSkipped("the check runtimes are recorded on the NumPy backend (backends/numpy/BENCH.md)")
        if not config.time_checks:
            raise lik.BenchSkipped("turned off in this configuration")
        rows = chk.run_check_runtimes(backend, log)
        return [chk.__doc__.split("\n\n", 1)[1].strip(), "", *chk.runtime_table(rows)]

    def step_capture() -> list[str]:
        from . import compile_probe as cp

        if name != "torch" or "cuda" in str(backend.device):
            raise lik.BenchSkipped("torch.compile is probed on torch CPU (backends/torch/BENCH.md); "
                                   "CUDA graphs would need a device (none lent)")
        if not config.compile_probe:
            raise lik.BenchSkipped("turned off in this configuration")
        rows = cp.run_in_child()
        for r in rows:
            log(f"  {r['work']} ({r['n']}, {r['d']}): speed-up {r['speedup']:.2f}x")
        return [cp.__doc__.split("\n\n", 1)[1].strip(), "", *cp.probe_lines(rows)]

    def divergence() -> list[str]:
        rows = div.run_divergence_benchmarks(backend, list(config.divergence_dims), config.divergence_n,
                                             config.divergence_repeats, log)
        out = [div.__doc__.split("\n\n", 1)[1].strip(), "", *rep.divergence_table(rows), ""]
        out += [f"- Crossover: {div.crossover(rows, m)}." for m in div.PROBES]
        if not config.end_to_end_dims:
            return out
        try:
            e2e = div.run_end_to_end(backend, list(config.end_to_end_dims), config.divergence_n, log)
            out += ["", "End to end (`log_likelihood`, rk45, rtol = atol = 1e-5):", "", *rep.end_to_end_table(e2e)]
        except lik.BenchSkipped as exc:
            out += ["", f"End to end: skipped ({exc})."]
        return out

    def memory() -> list[str]:
        if not config.measure_memory:
            raise lik.BenchSkipped("turned off in this configuration")
        rows, notes = mem.run_memory_benchmarks(name, dtype, config.memory_size, config.memory_likelihood_size,
                                                config.memory_steps, log)
        return [mem.__doc__.split("\n\n", 1)[1].strip(), "", *rep.memory_table(rows), *[f"- {s}" for s in notes]]

    def bandwidth() -> list[str]:
        on_accelerator = name == "cupy" or "cuda" in str(backend.device)
        sizes = config.bandwidth_sizes_accelerator if on_accelerator else config.bandwidth_sizes
        if not sizes:
            raise lik.BenchSkipped("turned off in this configuration")
        rows = bw.run_bandwidth_benchmarks(backend, list(sizes), config.bandwidth_repeats, log)
        return [bw.__doc__.split("\n\n", 1)[1].strip(), "", *bw.bandwidth_table(rows)]

    def system() -> list[str]:
        imp = sysb.time_import(config.import_repeats)
        out = [sysb.__doc__.split("\n\n", 1)[1].strip(), "",
               f"- `import refsde`: median {imp.median:.3f} s over {len(imp.seconds)} processes "
               f"(min {min(imp.seconds):.3f}, max {max(imp.seconds):.3f}); target <= {sysb.IMPORT_TARGET} s: "
               f"{'met' if imp.median <= sysb.IMPORT_TARGET else '**missed**'}; heavy modules imported: "
               f"{', '.join(imp.heavy_modules) or 'none'}."]
        log(f"  import refsde {imp.median:.3f} s, heavy modules: {imp.heavy_modules or 'none'}")
        if imp.heavy_modules:
            raise RuntimeError(f"import refsde imported {imp.heavy_modules}")
        if config.time_suite:
            suite = sysb.time_validation_suite(name, None)
            out.append(f"- `refsde validate --backend {name}`: {suite.seconds:.1f} s wall, exit code "
                       f"{suite.returncode} ({suite.summary}).")
            log(f"  validation suite {suite.seconds:.1f} s, rc {suite.returncode}")
        return out

    bodies = {"1": samplers, "2": likelihood, "2b": peers, "3": divergence, "4": memory, "5": system,
              "6": bandwidth, "7": checks, "8": step_capture}
    chosen = list(SECTION_IDS) if sections is None else list(sections)
    new_sections: dict[str, list[str]] = {}
    for sid in SECTION_IDS:
        if sid in chosen:
            part: list[str] = []
            ok = _section(f"{sid}. {SECTION_TITLES[sid]}", bodies[sid], part, log) and ok
            new_sections[sid] = part
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "BENCH.md")
    if sections is None:
        for sid in SECTION_IDS:
            lines += new_sections[sid]
    else:
        old_header, old_sections = _split_sections(open(path, encoding="utf-8").read()) if os.path.exists(path) \
            else ("\n".join(lines), {})
        stamp = (f"Sections {', '.join(chosen)} regenerated on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
                 f"by `python -m refsde_validation.bench --backend {name}{quick_flag} --sections {','.join(chosen)}` "
                 f"(configuration `{config.label}`); the others are as the header's run left them.")
        header = [h for h in old_header.rstrip("\n").split("\n") if not h.startswith(("Sections ", "Regenerate "))]
        lines = header + ["", REGENERATE, "", stamp]
        for sid in SECTION_IDS:
            if sid in new_sections:
                lines += new_sections[sid]
            elif sid in old_sections:
                lines += ["", *old_sections[sid].rstrip("\n").split("\n")]
    text = "\n".join(lines) + "\n"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    log(f"wrote {path}")
    return text, ok


def run_bench(backend: str | None, quick: bool, out_dir: str | None, sections: Sequence[str] | None = None) -> int:
    """Entry point of ``refsde validate --bench``: 0 iff every section ran (targets are not pass/fail).

    ``sections``: run only these ids and splice them into the existing BENCH.md (see :func:`bench_backend`)."""
    if sections is not None:
        unknown = [sid for sid in sections if sid not in SECTION_IDS]
        if unknown:
            raise SystemExit(f"unknown section ids {unknown}; known: {', '.join(SECTION_IDS)}")
    from .system import pin_allocator

    config = QUICK if quick else FULL
    names = default_backends(backend)
    allocator = pin_allocator()  # once, for the whole process: both sides of every comparison alike
    ok = True
    for name in names:
        target = out_dir if (out_dir and len(names) == 1) else (
            os.path.join(out_dir, name) if out_dir else default_out_dir(name))
        ok = bench_backend(name, config, target, allocator=allocator, sections=sections)[1] and ok
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m refsde_validation.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    parser.add_argument("--backend", default=None, help="numpy, torch, ... (default: REFSDE_BACKEND, else numpy and torch)")
    parser.add_argument("--out", default=None, metavar="DIR", help="where BENCH.md goes (default backends/<name>)")
    parser.add_argument("--sections", default=None, metavar="IDS",
                        help="comma-separated section ids (" + ",".join(SECTION_IDS) + "): run only those and "
                        "splice them into the existing BENCH.md")
    args = parser.parse_args(argv)
    sections = None if args.sections is None else [x.strip() for x in args.sections.split(",") if x.strip()]
    return run_bench(args.backend, args.quick, args.out, sections)


if __name__ == "__main__":
    sys.exit(main())
