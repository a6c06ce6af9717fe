"""Smoke and correctness tests of the benchmark harness (validation/bench/); no timing is asserted.

* The interleaving and the ratio statistics are checked with a fake clock (exact expected values).
* The hand-written baseline loops must compute what refsde's samplers compute (same grid, same noise
  stream): otherwise the benchmark would compare different work.  Expected agreement is to rounding.
* One tiny end-to-end run writes a BENCH.md with every section's table.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

import refsde
from refsde_validation.bench import memory as bench_memory
from refsde_validation.bench import run as bench
from refsde_validation.bench import timing as bench_timing
from refsde_validation.bench.problems import gaussian_score, linear_score, vp_sde
from refsde_validation.bench.samplers import sampler_pairs

pytestmark = pytest.mark.slow  # end to end (subprocesses, whole suites): once, in the default (numpy) pass

# no end-to-end likelihood (tests/test_likelihood*.py cover it) and no validation-suite run: keeps this fast
TINY = bench.BenchConfig("tiny", ((6, 2),), 25, 1, (2,), 3, 1, (2, 3), 2, 1, (), (8, 3), (8, 2), (3, 6), 1,
                         time_suite=False, sampler_issue_sizes=((5, 2),), sampler_issue_steps=30,
                         sampler_issue_repeats=1, bandwidth_sizes=((64, 3),), bandwidth_repeats=1)


def test_quartiles_linear_interpolation() -> None:
    # positions p (len - 1): [1..5] -> 2 and 4 exactly; [1..4] -> 1 + 0.75 = 1.75 and 3 + 0.25 = 3.25
    assert bench_timing.quartiles([5.0, 1.0, 3.0, 2.0, 4.0]) == (2.0, 4.0)
    assert bench_timing.quartiles([4.0, 1.0, 3.0, 2.0]) == (1.75, 3.25)
    assert bench_timing.quartiles([7.0]) == (7.0, 7.0)


def test_compare_interleaves_and_divides(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    calls: list[str] = []
    monkeypatch.setattr(bench_timing.time, "perf_counter", lambda: clock[0])

    def make(name: str, cost: float) -> Any:
        def fn() -> str:
            calls.append(name)
            clock[0] += cost
            return name

        return fn

    cmp = bench_timing.compare("fake", make("A", 3.0), make("B", 1.5), repeats=3)
    assert calls == ["A", "B", "A", "B", "B", "A", "A", "B"]  # warm-up A B, then AB, BA, AB
    assert cmp.times_a == (3.0, 3.0, 3.0) and cmp.times_b == (1.5, 1.5, 1.5)
    assert cmp.median_ratio == 2.0 and cmp.ratio_iqr == (2.0, 2.0)
    with pytest.raises(ValueError):
        bench_timing.compare("fake", make("A", 1.0), make("B", 1.0), repeats=0)


@pytest.mark.parametrize("score_name", ["linear", "gaussian"])
def test_baseline_loops_do_the_same_work_as_refsde(backend: Any, score_name: str) -> None:
    sde = vp_sde()
    x_T = sde.prior_sample((5, 3), refsde.make_rng(7, backend), dtype=backend.xp.float64)
    score = linear_score if score_name == "linear" else gaussian_score(backend, 3)
    for name, (ours, theirs) in sampler_pairs(score, sde, x_T, 25).items():  # PC on a VPSDE needs > 20 steps
        a, b = backend.to_numpy(ours()), backend.to_numpy(theirs())
        assert np.all(np.isfinite(a)), name
        # same grid, coefficients and noise: equal up to float64 rounding of the coefficients
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=name)
        assert np.max(np.abs(a - backend.to_numpy(x_T))) > 1e-3, name  # the samplers did move x


def test_tiny_run_writes_every_table(backend: Any, tmp_path: Any) -> None:
    # memory is measured in child processes; a child importing torch takes seconds, so numpy-like only
    traced = backend.name in bench_memory.TRACED
    config = dataclasses.replace(TINY, measure_memory=traced)
    text, ok = bench.bench_backend(backend.name, config, str(tmp_path), log=lambda s: None)
    assert ok, text
    assert (tmp_path / "BENCH.md").read_text(encoding="utf-8") == text
    for heading in ("## 1. Samplers", "## 2. ODE log-likelihood", "## 3. Exact divergence", "## 4. Peak memory",
                    "## 5. Import time", "## 6. Memory throughput"):
        assert heading in text
    assert "| sampler | (n, d) | score |" in text
    assert "| d | n | method | time / evaluation |" in text
    assert "| (64, 3) | 0 MiB |" in text and "| refsde fraction |" in text
    assert ("| work | (n, d) | steps | peak |" in text) == traced
    assert "heavy modules imported: none" in text
    assert "ERROR" not in text
    # 3 samplers x (2 scores x 1 size + the linear score at the issue's size and step count) rows
    em_rows = [line for line in text.splitlines() if line.startswith("| euler_maruyama")]
    assert len(em_rows) == 3 and em_rows[-1].startswith("| euler_maruyama | (5, 2) | linear | 30 |")


def test_default_backends_and_out_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    assert bench.default_backends("torch") == ["torch"]
    monkeypatch.setenv("REFSDE_BACKEND", "array_api_strict")
    assert bench.default_backends(None) == ["array_api_strict"]
    monkeypatch.delenv("REFSDE_BACKEND")
    assert bench.default_backends(None)[0] == "numpy"
    assert bench.default_out_dir("numpy").replace("\\", "/").endswith("backends/numpy")


def test_diagonal_score_matches_the_full_covariance_oracle(backend: Any) -> None:
    # the same law N(0, diag(linspace(0.5, 2, d))) through refsde.gaussian's eigendecomposition-based oracle
    from refsde.gaussian import Gaussian
    from refsde_validation.bench.problems import DiagonalGaussianScore

    d = 5
    sde = vp_sde()
    cheap = DiagonalGaussianScore(backend, sde, d)
    xp = backend.xp
    c = np.linspace(0.5, 2.0, d)
    oracle = Gaussian(backend.asarray(np.zeros(d)), backend.asarray(np.diag(c))).score_fn(sde)
    x = backend.asarray(np.random.default_rng(0).normal(size=(4, d)))
    for t_val in (1e-5, 0.3, 1.0):
        t = xp.asarray(t_val, dtype=x.dtype)
        for a, b in ((cheap(x, t), oracle(x, t)), (cheap.divergence(x, t), oracle.divergence(x, t)),
                     (cheap.log_prob(x, t_val), oracle.log_prob(x, t_val))):
            np.testing.assert_allclose(backend.to_numpy(a), backend.to_numpy(b), rtol=1e-10, atol=1e-12)


def test_rss_memory_method_reports_the_live_states() -> None:
    # the RSS (VmHWM) method, run on NumPy so that the child starts fast: x_T and the state alone are two
    # states of n d itemsize = 256 kB each (above the 64 KiB mmap threshold), so the peak must exceed
    # 2 states; the old polled-RSS method read 0 for torch.  The peak must not grow with the step count.
    n, d = 512, 64
    unit = n * d * 8
    peaks = []
    for steps in (4, 40):
        peak, method = bench_memory._child_peak("numpy", "float64", "sampler", n, d, steps, traced=False)
        assert method in ("vmhwm", "polled")
        peaks.append(peak)
    assert min(peaks) >= 2 * unit, peaks
    assert (peaks[1] - peaks[0]) / (unit * 36) < 0.05, peaks  # O(n d): far less than a state per step


def test_bandwidth_fraction_is_issued_traffic_over_stream() -> None:
    # 20 N bytes per EM step (module doc's traffic model); N = n d itemsize
    from refsde_validation.bench.bandwidth import BandwidthRow

    row = BandwidthRow(n=1000, d=10, itemsize=8, stream_bytes_per_s=1.6e9, refsde_step_s=1e-3, loop_step_s=2e-3)
    assert row.bytes_per_step == 20 * 1000 * 10 * 8
    assert row.fraction(row.refsde_step_s) == pytest.approx(1.6e6 / 1e-3 / 1.6e9)  # = 1.0
    assert row.fraction(row.loop_step_s) == pytest.approx(0.5)
    assert row.fused_fraction(row.refsde_step_s) == pytest.approx(3 / 20)


def test_rk4_anatomy_variants_do_the_same_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variant of the RK4 overhead probe computes the hand loop's result (to rounding), so its
    ratios compare equal work; one child-process round runs and reports a ratio per variant."""
    from refsde_validation.bench import rk4_anatomy as bench_rk4_anatomy

    backend = refsde.get_backend("numpy")
    variants = bench_rk4_anatomy._variants(backend, 3, 2, 20)
    reference = backend.to_numpy(variants["loop"]())
    for name, fn in variants.items():
        np.testing.assert_allclose(backend.to_numpy(fn()), reference, rtol=1e-12, atol=1e-12, err_msg=name)
    from refsde_validation.bench import system as bench_system

    monkeypatch.setattr(bench_system, "pin_allocator", lambda: "unchanged")  # leave the test process's malloc alone
    ratios = bench_rk4_anatomy.one_process("numpy", 3, 2, 5, 1)
    assert set(ratios) == set(bench_rk4_anatomy.VARIANTS) | {"loop_seconds"} and ratios["loop"] == 1.0


def test_torchdiffeq_peer_computes_the_same_log_likelihood() -> None:
    """The dopri5 adapter integrates the same augmented ODE as refsde (log p to the tolerance) and its step
    counts come from torchdiffeq's accept / reject hooks: 6 drift calls per attempt after the first two."""
    torch = pytest.importorskip("torch", reason="the peer runs on torch tensors")
    pytest.importorskip("torchdiffeq", reason="torchdiffeq is not installed (the bench extra)")
    from refsde.likelihood import log_likelihood
    from refsde_validation.bench.peers import torchdiffeq_log_likelihood

    backend = refsde.get_backend("torch", dtype="float64")
    sde = vp_sde()
    score = gaussian_score(backend, 3)
    x = sde.prior_sample((5, 3), refsde.make_rng(3, backend), dtype=torch.float64)
    counts: dict[str, int] = {}
    peer = torchdiffeq_log_likelihood(score, sde, x, counts=counts)
    ours = log_likelihood(score, sde, x, eps=1e-5, rtol=1e-5, atol=1e-5)[0]
    exact = score.log_prob(x, 1e-5)
    assert counts["nfe"] == 2 + 6 * (counts["accepted"] + counts["rejected"])
    assert float(torch.max(torch.abs(peer - ours))) < 1e-2
    assert float(torch.max(torch.abs(peer - exact))) < 1e-2
    probe = refsde.make_rng(4, backend).normal((5, 3), dtype=torch.float64)  # Hutchinson: the same probe both sides
    hutch_peer = torchdiffeq_log_likelihood(score, sde, x, probe)
    hutch = log_likelihood(score, sde, x, eps=1e-5, divergence="hutchinson", probes=probe[None])[0]
    assert float(torch.max(torch.abs(hutch_peer - hutch))) < 5e-2


def test_peer_rows_are_skipped_with_a_reason_without_torchdiffeq(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from refsde_validation.bench.likelihood import BenchSkipped
    from refsde_validation.bench.peers import run_peer_benchmarks

    monkeypatch.setitem(sys.modules, "torchdiffeq", None)  # import torchdiffeq now raises ImportError
    with pytest.raises(BenchSkipped, match="torchdiffeq is not installed"):
        run_peer_benchmarks([2], 3, 1)


def test_check_runtimes_cover_every_public_check() -> None:
    from refsde import testing as rt
    from refsde_validation.bench.check_runtime import _cases

    names = [case[0] for case in _cases(refsde.get_backend("numpy"))]
    assert sorted(names) == sorted(n for n in rt.__all__ if n.startswith("check_"))


def test_sections_are_spliced_into_the_existing_file(tmp_path: Any) -> None:
    config = dataclasses.replace(TINY, measure_memory=False)
    bench.bench_backend("numpy", config, str(tmp_path), log=lambda s: None)
    before = (tmp_path / "BENCH.md").read_text(encoding="utf-8")
    text, ok = bench.bench_backend("numpy", config, str(tmp_path), log=lambda s: None, sections=["5"])
    assert ok and "Sections 5 regenerated" in text
    old_parts, new_parts = bench._split_sections(before)[1], bench._split_sections(text)[1]
    assert list(new_parts) == list(old_parts) == list(bench.SECTION_IDS)
    assert all(new_parts[sid] == old_parts[sid] for sid in bench.SECTION_IDS if sid != "5")


def test_compile_probe_decision_follows_the_small_op_rows() -> None:
    from refsde_validation.bench.compile_probe import probe_lines

    def row(n: int, d: int, speedup: float) -> dict[str, Any]:
        return {"work": "EM step, linear score", "n": n, "d": d, "eager": 2e-5 * speedup, "compiled": 2e-5,
                "speedup": speedup, "compile_s": 1.0}

    text = "\n".join(probe_lines([row(256, 2, 0.5), row(256, 64, 1.1), row(256, 3072, 4.0)]))
    assert "**not built**" in text and "1.10x" in text and "4.00x" in text
    assert "worth building" in "\n".join(probe_lines([row(256, 2, 1.4), row(256, 3072, 4.0)]))
