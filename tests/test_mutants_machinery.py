"""The machinery mutants (validation/evidence/machinery_mutants.py) and the harness that runs the catalogue.

Each new mutant goes through tests/test_impl_cli.py::test_mutant_is_caught_by_its_intended_check (it
parametrizes over ``mutants.MUTANTS``) and the controls through test_controls_pass_every_check; here:
the catalogue's shape, the harness's verdicts (SKIP / ERROR), and the ``--impl`` rows of the correct
machinery candidates, which must read PASS too.  All deterministic (fixed seeds), no timing.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import refsde
from refsde_validation.checks import registry, runner
from refsde_validation.checks import user_impl as impl
from refsde_validation.evidence import machinery_mutants as mutants_machinery
from refsde_validation.evidence import mutants

pytestmark = pytest.mark.slow  # end to end (subprocesses, whole suites): once, in the default (numpy) pass

MACHINERY_CHECKS = {
    "check_sde_sampler", "check_ode_sampler", "check_corrector", "check_dsm_loss", "check_log_likelihood",
    "check_pf_ode_drift", "check_reverse_drift", "check_ddpm_loss", "check_bits_per_dim",
}


def test_catalogue_has_the_machinery_mutants() -> None:
    names = [m.name for m in mutants.MUTANTS]
    assert len(names) == len(set(names)) and len(names) >= 28
    intended = {m.intended for m in mutants_machinery.MACHINERY_MUTANTS}
    assert intended == MACHINERY_CHECKS  # every machinery check has at least one mutant
    known = {check for _, check in impl.IMPL_ATTRIBUTES}
    assert all(m.intended in known for m in mutants.MUTANTS)
    assert set(mutants_machinery.MACHINERY_CONTROLS) <= set(mutants.CONTROLS)


def test_each_mutant_sets_only_the_attribute_of_its_check() -> None:
    by_check = {check: attrs for attrs, check in impl.IMPL_ATTRIBUTES}
    for m in mutants_machinery.MACHINERY_MUTANTS:
        obj = m.build()
        present = {a for attrs in by_check.values() for a in attrs if hasattr(obj, a)}
        assert present == set(by_check[m.intended]), m.name


def test_harness_verdicts_skip_and_error(backend: Any) -> None:
    def broken(score_fn: Any, x: Any, n_steps: int) -> Any:
        raise ZeroDivisionError("candidate bug")

    with refsde.use_backend(backend):
        rows = mutants._run_impl(SimpleNamespace(reference=refsde.VPSDE(), sde_sampler=broken), backend, 0)
    # an exception inside the candidate is a FAIL saying the candidate raised under this reference (the
    # original chained), not an ERROR of the harness
    verdict, detail = rows["check_sde_sampler"]
    assert verdict == "FAIL" and "ZeroDivisionError: candidate bug" in detail and "candidate raised" in detail
    assert rows["check_marginal"][0] == "SKIP" and rows["check_corrector"][0] == "SKIP"


def _impl_rows(obj: Any, backend: Any) -> dict[str, registry.CheckResult]:
    with refsde.use_backend(backend):
        return {r.name: r for r in runner.run_checks(impl.impl_checks(obj), backend, 0)}


@pytest.mark.parametrize("control", ["vp_pf_ode_euler", "vp_loglik_hutchinson", "ve_loglik", "vp_loglik_float32"])
def test_impl_rows_of_correct_machinery_read_pass(control: str, backend: Any) -> None:
    if control.endswith("float32") and not hasattr(backend.xp, "float32"):
        pytest.skip("backend without float32")
    rows = _impl_rows(mutants.CONTROLS[control](), backend)
    bad = {k: (r.verdict, r.statistic, r.threshold, r.detail)
           for k, r in rows.items() if r.verdict not in ("PASS", "SKIP")}
    assert not bad and any(r.verdict == "PASS" for r in rows.values()), bad


def _corrector_impl() -> Any:
    ref = refsde.VPSDE(beta_min=0.1, beta_max=20.0)
    return SimpleNamespace(reference=ref, corrector=mutants_machinery.langevin_step())


def test_correct_corrector_passes_the_check(backend: Any) -> None:
    with refsde.use_backend(backend):
        assert mutants._run_impl(_corrector_impl(), backend, 0)["check_corrector"] == ("PASS", "")


def test_impl_row_of_a_correct_corrector_reads_pass(backend: Any) -> None:
    assert _impl_rows(_corrector_impl(), backend)["impl.corrector"].verdict == "PASS"


# ---------------------------------------------------------------------------------------------------
# dogfood rows (validation/checks/dogfood.py; each row's PASS is tests/test_validation.py::test_check_passes)
# ---------------------------------------------------------------------------------------------------
def test_dogfood_rows_are_registered() -> None:
    names = {c.name for c in runner.all_checks() if c.family == "dogfood"}
    pieces = ["coefficients", "marginal", "prior", "sample_sde.euler_maruyama", "sample_sde.reverse_diffusion",
              "sample_sde.ancestral", "sample_ode.euler", "sample_ode.heun", "sample_ode.rk4", "sample_pc.langevin",
              "sample_pc.predictor_only", "langevin_corrector", "dsm_loss.sigma2", "dsm_loss.likelihood",
              "log_likelihood"]
    for piece in pieces:
        assert f"dogfood.{piece}[VP]" in names, piece
    for label in ("VP", "subVP", "VE", "VE-score_sde"):
        assert {f"dogfood.{p}[{label}]" for p in ("coefficients", "marginal", "prior")} <= names


def test_dogfood_outcome_reads_a_failure_and_a_signed_pass(backend: Any) -> None:
    from refsde.testing import check_corrector
    from refsde_validation.checks.dogfood import _outcome

    ref = refsde.VPSDE(beta_min=0.1, beta_max=20.0)
    with refsde.use_backend(backend):
        good = _outcome(lambda: check_corrector(mutants_machinery.langevin_step(), ref, backend=backend))
        bad = _outcome(lambda: check_corrector(mutants_machinery.langevin_step(noise_factor=1.0), ref, backend=backend))
    assert good.passed and good.statistic <= good.threshold
    assert not bad.passed and "fluctuation-dissipation" in bad.detail and bad.statistic > bad.threshold


def test_every_mutant_is_diagnosed_as_itself(backend: Any) -> None:
    """The named-cause confusion table (validation/REPORT.md): every mutant whose bug the slip tables know is named as
    itself (or as itself and an indistinguishable slip); the others name no slip, and none is misdiagnosed."""
    if backend.name != "numpy":
        pytest.skip("the diagnosis is host float64 arithmetic on the candidate's outputs: pinned in the numpy pass "
                    "(the catches themselves run on every backend: test_impl_cli.py::test_mutant_is_caught_by_its_intended_check)")
    results = mutants.run_mutants(backend)
    assert set(mutants.EXPECTED_CAUSES) == {m.name for m in mutants.MUTANTS}
    bad = {r.mutant.name: (r.diagnosis, r.cause) for r in results
           if not r.skipped and not r.diagnosis.startswith(("itself", "by its property", "no slip named"))}
    assert not bad, bad
