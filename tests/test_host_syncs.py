"""No device -> host reads inside the sampler and solver loops (issue 5: "no .item() / float() per step").

On an accelerator every host read of an array value (``bool(a)``, ``float(a)``, ``int(a)``, ``a.item()``,
``a.tolist()``, ...) waits for the device queue to drain.  The design allows, per run, a fixed number of
reads at setup and at the end, one read per :data:`refsde.sampling._loop.CHECK_EVERY` steps for the
samplers' NaN watch, and one status read per ``sync_every`` step attempts for rk45.

How it is checked without a GPU: torch CPU tensors go through the same Python conversion methods that
synchronize on CUDA, so the test counts calls of those methods (patched on ``torch.Tensor``) while a run
executes, with a score that reads nothing itself, and compares runs of 32 and 64 steps: the 32 extra steps
may add at most 32 / CHECK_EVERY + 1 reads.  A sampler that reads once per step adds >= 32 and fails.
"""

from __future__ import annotations

import collections
import math
from typing import Any, Callable

import pytest

import refsde
from refsde.likelihood import log_likelihood
from refsde.ode import solve_ode
from refsde.sampling import (
    langevin_corrector,
    sample_ddim,
    sample_dpm_solver,
    sample_dpm_solver_pp_2m,
    sample_edm_heun,
    sample_ode,
    sample_pc,
    sample_sde,
)
from refsde.sampling._loop import CHECK_EVERY

torch = pytest.importorskip("torch", reason="host reads are counted on torch tensors (torch not installed)")

#: The Tensor methods through which a value leaves the device (``to`` counted only with a device argument).
READS = ("__bool__", "__float__", "__int__", "__index__", "__complex__", "item", "tolist", "numpy", "__array__", "cpu")
SHORT, LONG = 32, 64
ALLOWED_EXTRA = (LONG - SHORT) // CHECK_EVERY + 1
assert CHECK_EVERY >= 8, "the allowance below would no longer separate 'per watch period' from 'per step'"


def _names_a_device(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    return "device" in kwargs or any(isinstance(a, (str, torch.device)) for a in args)


@pytest.fixture
def count_reads(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], Any]], int]:
    """``count(fn)``: the number of host reads of torch tensors while ``fn()`` runs."""
    calls: collections.Counter[str] = collections.Counter()
    for name in READS:
        original = getattr(torch.Tensor, name, None)
        if original is None:
            continue

        def counting(self: Any, *args: Any, __original: Any = original, __name: str = name, **kwargs: Any) -> Any:
            calls[__name] += 1
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    to = torch.Tensor.to

    def counting_to(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _names_a_device(args, kwargs):  # .to(dtype) stays on the device; .to("cpu") / .to(device) may not
            calls["to"] += 1
        return to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", counting_to)

    def count(fn: Callable[[], Any]) -> int:
        calls.clear()
        fn()
        return sum(calls.values())

    return count


def _score(x: Any, t: Any) -> Any:
    return -x / (1.0 + t)  # reads nothing: t stays a 0-d tensor


SDES = {"vp": lambda: refsde.VPSDE(), "ve": lambda: refsde.VESDE(), "subvp": lambda: refsde.SubVPSDE()}

SAMPLERS: dict[str, Callable[[Any, Any, int], Any]] = {
    "sde_euler_maruyama": lambda sde, x, n: sample_sde(_score, sde, x, n, rng=1, denoise=True),
    "sde_reverse_diffusion": lambda sde, x, n: sample_sde(_score, sde, x, n, rng=1, method="reverse_diffusion"),
    "sde_ancestral": lambda sde, x, n: sample_sde(_score, sde, x, n, rng=1, method="ancestral"),
    "pc_reverse_diffusion_langevin": lambda sde, x, n: sample_pc(_score, sde, x, n, rng=1),
    "pc_reverse_diffusion_annealed": lambda sde, x, n: sample_pc(
        _score, sde, x, n, rng=1, corrector="annealed_langevin", order="corrector_first"
    ),
    "pc_ancestral_batch_norm": lambda sde, x, n: sample_pc(
        _score, sde, x, n, rng=1, predictor="ancestral", batch_norm=True
    ),
    "pc_euler_maruyama_langevin": lambda sde, x, n: sample_pc(_score, sde, x, n, rng=1, predictor="euler_maruyama"),
    "ode_rk4": lambda sde, x, n: sample_ode(_score, sde, x, n, method="rk4"),
    "ddim_eta": lambda sde, x, n: sample_ddim(_score, sde, x, n, eta=0.5, rng=0),
    "dpm_solver_3": lambda sde, x, n: sample_dpm_solver(_score, sde, x, n, order=3),
    "dpm_solver_2_uniform_t": lambda sde, x, n: sample_dpm_solver(_score, sde, x, n, order=2, grid="uniform_t"),
    "dpm_solver_pp_2m": lambda sde, x, n: sample_dpm_solver_pp_2m(_score, sde, x, n),
    "edm_heun_churn": lambda sde, x, n: sample_edm_heun(_score, sde, x, n, churn=10.0, rng=0),
    "langevin_corrector": lambda sde, x, n: langevin_corrector(_score, sde, x, 0.5, n_steps=n, rng=0),
    "annealed_langevin_corrector": lambda sde, x, n: langevin_corrector(
        _score, sde, x, 0.5, n_steps=n, rng=0, method="annealed_langevin"
    ),
}


@pytest.mark.parametrize("sde_name", sorted(SDES))
@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_samplers_read_the_host_once_per_watch_period_not_per_step(count_reads, sampler: str, sde_name: str) -> None:
    sde = SDES[sde_name]()
    if "ancestral" in sampler and sde_name == "subvp":
        pytest.skip("ancestral sampling is defined for VP and VE only")
    backend = refsde.get_backend("torch")
    x = sde.prior_sample((4, 3), 0, backend=backend)
    run = SAMPLERS[sampler]
    short = count_reads(lambda: run(sde, x, SHORT))
    long = count_reads(lambda: run(sde, x, LONG))
    assert long - short <= ALLOWED_EXTRA, (
        f"{sampler} on {sde_name}: {short} host reads for {SHORT} steps, {long} for {LONG}: "
        f"{(long - short) / (LONG - SHORT):.2f} per step (allowed: one per {CHECK_EVERY} steps)"
    )


@pytest.mark.parametrize("sync_every", [1, 4])
def test_rk45_reads_its_status_once_per_sync_every_attempts(count_reads, sync_every: int) -> None:
    backend = refsde.get_backend("torch")
    y0 = backend.asarray([[1.0, -2.0], [0.5, 3.0]])
    results = {}

    def solve(tol: float) -> None:
        results[tol] = solve_ode(lambda t, y: -y * (1.0 + t), y0, 0.0, 5.0, rtol=tol, atol=tol, sync_every=sync_every)

    loose, tight = count_reads(lambda: solve(1e-3)), count_reads(lambda: solve(1e-9))
    attempts_loose, attempts_tight = results[1e-3][1].n_attempts, results[1e-9][1].n_attempts
    assert attempts_tight - attempts_loose >= 20  # the tight solve really takes many more steps
    polls = math.ceil(attempts_tight / sync_every) - math.ceil(attempts_loose / sync_every)
    assert tight - loose <= polls + 1, f"{tight - loose} extra reads for {polls} extra status polls"


def test_likelihood_reads_once_per_step_attempt(count_reads) -> None:
    backend = refsde.get_backend("torch")
    sde = refsde.VPSDE()
    x = backend.asarray([[0.3, -1.2, 0.7], [1.5, 0.1, -0.4]])
    infos = {}

    def run(tol: float) -> None:
        infos[tol] = log_likelihood(_score, sde, x, method="rk45", rtol=tol, atol=tol)[1]

    loose, tight = count_reads(lambda: run(1e-3)), count_reads(lambda: run(1e-10))
    extra_attempts = infos[1e-10].solver.n_attempts - infos[1e-3].solver.n_attempts
    assert extra_attempts >= 20
    assert tight - loose <= extra_attempts + 1
