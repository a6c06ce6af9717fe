"""``refsde validate --impl / --report / --plots`` and the mutation catalogue of the conformance checks.

The mutants (validation/evidence/mutants.py) are single-bug user implementations written independently of
refsde's code; each must be caught by its intended check, and the same implementations without the bug
(the controls) must pass every check, so a catch is not a check that rejects everything.
"""

from __future__ import annotations

import io
import os
import sys
import textwrap
from types import SimpleNamespace
from typing import Any

import pytest

import refsde
from refsde.cli import main as cli_main
from refsde_validation.checks import registry, runner
from refsde_validation.checks import user_impl as impl
from refsde_validation.evidence import mutants
from refsde_validation.report import markdown as report_md

# ---------------------------------------------------------------------------------------------------
# --impl
# ---------------------------------------------------------------------------------------------------
GOOD_IMPL = '''
import refsde
reference = refsde.VPSDE(beta_min=0.1, beta_max=20.0)
def sde_fn(x, t):
    return reference.sde(x, t)
def marginal_fn(x0, t):
    return reference.marginal(x0, t)
'''

BAD_IMPL = GOOD_IMPL + '''
def marginal_fn(x0, t):  # the variance instead of the std
    mean, std = reference.marginal(x0, t)
    return mean, std * std
'''


@pytest.fixture
def impl_module(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    def make(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        return name

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for mod in [m for m in sys.modules if m.startswith("user_impl_")]:
        del sys.modules[mod]


def test_impl_correct_passes_and_missing_attributes_are_skipped(impl_module: Any, backend: Any, capsys: Any) -> None:
    name = impl_module("user_impl_good", GOOD_IMPL)
    assert cli_main(["validate", "--backend", backend.name, "--impl", name]) == 0
    out = capsys.readouterr().out
    assert "impl.coefficients" in out and "impl.marginal" in out
    lines = {ln.split()[0]: ln.split()[1] for ln in out.splitlines() if ln.startswith("impl.")}
    assert lines["impl.coefficients"] == "PASS" and lines["impl.marginal"] == "PASS"
    assert lines["impl.prior"] == "SKIP" and "no attribute prior_sample_fn / prior_logp_fn" in out


def test_impl_with_a_bug_fails_with_the_property_named(impl_module: Any, backend: Any, capsys: Any) -> None:
    name = impl_module("user_impl_bad", BAD_IMPL)
    assert cli_main(["validate", "--backend", backend.name, "--impl", f"{name}"]) == 1
    out = capsys.readouterr().out
    assert "impl.marginal" in out and "FAIL" in out and "marginal std" in out


@pytest.mark.parametrize("spec", ["", "a:b:c", "no_such_module_xyz", "user_impl_good:nothing_here"])
def test_impl_bad_spec_exits_2(impl_module: Any, spec: str, capsys: Any) -> None:
    impl_module("user_impl_good", GOOD_IMPL)
    assert cli_main(["validate", "--impl", spec]) == 2
    assert "cannot use --impl" in capsys.readouterr().out


def test_impl_without_reference_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="reference"):
        impl.impl_checks(SimpleNamespace(sde_fn=lambda x, t: (x, t)))
    with pytest.raises(ValueError, match="check_options"):
        impl.impl_checks(SimpleNamespace(reference=refsde.VPSDE(), check_options=[1]))


def test_impl_candidate_exception_is_a_fail_row_naming_it(backend: Any) -> None:
    """An exception inside the candidate is the candidate's failure under this reference (a FAIL row with the
    original exception in its text), not an ERROR of the harness."""
    def broken(x: Any, t: Any) -> Any:
        raise ZeroDivisionError("user bug")

    obj = SimpleNamespace(reference=refsde.VPSDE(), sde_fn=broken)
    res = runner.run_checks(impl.impl_checks(obj)[:1], backend)
    assert res[0].verdict == "FAIL" and "ZeroDivisionError: user bug" in res[0].detail
    assert "raised under this reference" in res[0].detail


# ---------------------------------------------------------------------------------------------------
# --report / --plots
# ---------------------------------------------------------------------------------------------------
def test_report_is_written_with_table_and_failure_details(tmp_path: Any, backend: Any) -> None:
    checks = [registry.Check("x.good", lambda ctx: registry.Outcome(0.5, 1.0)),
              registry.Check("x.bad", lambda ctx: registry.Outcome(3.0, 1.0, "deliberately | wrong"))]
    args = SimpleNamespace(backend=backend.name, dtype=None, device=None, only=None, seed=3, impl=None,
                           report=str(tmp_path / "R.md"), plots=None)
    out = io.StringIO()
    from refsde_validation.report import figures

    orig = figures.FIGURES
    figures.FIGURES = []  # figures are tested below; keep this test fast
    try:
        assert runner.run_cli(args, checks=checks, stream=out) == 1
    finally:
        figures.FIGURES = orig
    text = (tmp_path / "R.md").read_text()
    assert "| `x.good` | PASS | 0.5 | 1 |" in text
    assert "| `x.bad` | FAIL | 3 | 1 |" in text
    assert "deliberately | wrong" in text  # details verbatim in a code block
    assert f"backend: {backend.describe()}" in text and "seed 3" in text
    assert "FAILED: 2 checks, 1 passed, 1 failed" in text


def test_report_without_matplotlib_says_so(tmp_path: Any, backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    made, note = __import__("refsde_validation.report.figures", fromlist=["make_figures"]).make_figures(backend, str(tmp_path / "f"), stream=io.StringIO())
    assert made == [] and "matplotlib is not installed" in note


@pytest.mark.slow  # figures: matplotlib, backend-independent
def test_figures_are_made(tmp_path: Any, backend: Any) -> None:
    pytest.importorskip("matplotlib")
    from refsde_validation.report import figures

    made, note = figures.make_figures(backend, str(tmp_path), stream=io.StringIO())
    names = {os.path.basename(p) for _, p in made}
    assert {"std_vs_closed_form.png", "qq_samplers.png", "convergence_orders.png"} <= names
    for _, p in made:
        assert os.path.getsize(p) > 1000
    try:
        from refsde.likelihood import log_likelihood  # noqa: F401
    except ImportError:
        assert "likelihood_errors.png" in note
    else:
        assert "likelihood_errors.png" in names, note


IMPL_WITH_BUG = """
import numpy as np
import refsde

reference = refsde.VPSDE(beta_min=0.1, beta_max=20.0)


def sde_fn(x, t):
    beta = 0.1 + 19.9 * t
    return -0.5 * beta[:, None] * x, np.sqrt(beta)


def marginal_fn(x0, t):
    B = 0.1 * t + 0.5 * 19.9 * t ** 2
    return np.exp(-0.5 * B)[:, None] * x0, -np.expm1(-B)   # planted: the variance returned as the std
"""


def _impl_args(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> SimpleNamespace:
    (tmp_path / "userimpl_fig.py").write_text(IMPL_WITH_BUG)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("userimpl_fig", None)
    base = dict(backend="numpy", dtype=None, device=None, only=None, seed=0, impl="userimpl_fig", report=None, plots=None)
    base.update(kw)
    return SimpleNamespace(**base)


@pytest.mark.slow  # figures: matplotlib, backend-independent
def test_impl_figures_are_of_the_users_pieces(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    args = _impl_args(tmp_path, monkeypatch, report=str(tmp_path / "R.md"), plots=str(tmp_path / "figs"))
    out = io.StringIO()
    assert runner.run_cli(args, stream=out) == 1
    names = sorted(os.listdir(tmp_path / "figs"))
    assert names == ["impl_coefficients.png", "impl_marginal.png"], names  # none of refsde's own, no sampler plots
    text = (tmp_path / "R.md").read_text()
    assert "![sde_fn, checked by check_coefficients: PASS](figs/impl_coefficients.png)" in text
    assert "![marginal_fn, checked by check_marginal: FAIL](figs/impl_marginal.png)" in text
    assert "the variance sigma_t^2 returned as the std" in text  # the named cause is in the report's detail


def test_impl_figures_come_from_the_candidate(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The panel of a failing check holds the candidate's values (the variance), not the reference's std."""
    import numpy as np

    from refsde import testing as rt

    args = _impl_args(tmp_path, monkeypatch)
    mod = impl.load_impl(args.impl)
    with pytest.raises(rt.ConformanceError) as info:
        rt.check_marginal(mod.marginal_fn, mod.reference)
    (std,) = [p for p in info.value.evidence if p["title"] == "marginal std sigma_t"]
    np.testing.assert_allclose(std["got"], std["expected"] ** 2, rtol=1e-12)


def test_report_alone_draws_no_figures(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    args = _impl_args(tmp_path, monkeypatch, report=str(tmp_path / "R.md"))
    assert runner.run_cli(args, stream=io.StringIO()) == 1
    assert not list(tmp_path.rglob("*.png")) and not (tmp_path / "figures").exists()
    assert "figures: not drawn (pass --plots DIR to draw them)" in (tmp_path / "R.md").read_text()


@pytest.mark.parametrize("kw, message", [
    ({"report": "DIR"}, "is a directory"),
    ({"report": "R.txt"}, "ending in .md"),
    ({"plots": "FILE"}, "is a file"),
    ({"seed": -1}, "--seed must be an integer >= 0"),
])
def test_outputs_are_validated_before_any_check_runs(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, kw: dict,
                                                     message: str) -> None:
    (tmp_path / "DIR").mkdir()
    (tmp_path / "FILE").write_text("x")
    kw = {k: (str(tmp_path / v) if isinstance(v, str) else v) for k, v in kw.items()}
    args = _impl_args(tmp_path, monkeypatch, **kw)
    out = io.StringIO()
    assert runner.run_cli(args, stream=out) == 2
    assert message in out.getvalue() and "impl.coefficients" not in out.getvalue(), out.getvalue()


def test_unwritable_report_location_is_refused(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        args = _impl_args(tmp_path, monkeypatch, report=str(locked / "sub" / "R.md"))
        out = io.StringIO()
        assert runner.run_cli(args, stream=out) == 2
        assert "cannot create it" in out.getvalue()
    finally:
        locked.chmod(0o700)


def test_an_existing_report_is_overwritten_with_a_notice(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "R.md").write_text("the user's notes")
    args = _impl_args(tmp_path, monkeypatch, report=str(tmp_path / "R.md"))
    out = io.StringIO()
    runner.run_cli(args, stream=out)
    assert f"overwriting {tmp_path / 'R.md'} (it existed before this run)" in out.getvalue()


def test_environment_lines_name_the_machine(backend: Any) -> None:
    lines = report_md.environment_lines(backend)
    assert any(ln.startswith("- machine:") for ln in lines) and any("numpy" in ln for ln in lines)


# ---------------------------------------------------------------------------------------------------
# mutation testing of refsde.testing
# ---------------------------------------------------------------------------------------------------
def test_controls_pass_every_check(backend: Any) -> None:
    for name, rows in mutants.run_controls(backend).items():
        bad = {check: detail for check, (verdict, detail) in rows.items() if verdict not in ("PASS", "SKIP")}
        assert not bad, f"control {name}: {bad}"
        assert any(v == "PASS" for v, _ in rows.values()), name


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_mutant_is_caught_by_its_intended_check(mutant: mutants.Mutant, backend: Any) -> None:
    if mutant.intended.startswith("check_") and "float32" in mutant.name and not hasattr(backend.xp, "float32"):
        pytest.skip("backend without float32")
    (res,) = mutants.run_mutants(backend, mutants=[mutant])
    if res.skipped:
        pytest.skip(f"{mutant.intended} not available: {res.skipped}")
    assert not res.errored_checks, f"checks errored on {mutant.name}: {res.errored_checks}"
    assert res.caught, f"{mutant.name} ({mutant.bug}) not caught by {mutant.intended}; failed: {res.failed_checks}"


def test_catalogue_markdown_counts() -> None:
    res = [mutants.MutantResult(mutants.MUTANTS[0], ("check_coefficients",), (), "msg | x")]
    text = mutants.format_markdown(res)
    assert "1 of 1 mutants caught" in text and "msg \\| x" in text


# ---------------------------------------------------------------------------------------------------
# false-alarm script
# ---------------------------------------------------------------------------------------------------
def test_binomial_sf_against_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    from refsde_validation.evidence.false_alarms import binomial_sf

    for k, n, p in [(0, 200, 0.05), (1, 200, 1e-6), (10, 200, 0.05), (19, 200, 0.05), (3, 20, 0.05)]:
        assert binomial_sf(k, n, p) == pytest.approx(stats.binom.sf(k - 1, n, p), rel=1e-10, abs=1e-300)


def test_false_alarm_harness_counts_failures(backend: Any) -> None:
    from refsde.testing import ConformanceError
    from refsde_validation.evidence import false_alarms

    def flaky(seed: int, alpha: float, be: Any) -> None:
        if seed % 2:
            raise ConformanceError("check_x", "property")

    rows = false_alarms.run_false_alarms(4, (0.5,), backend, cases=[false_alarms.CASES[0], ("always_half", flaky)])
    assert [r.failures for r in rows] == [rows[0].failures, 2]
    assert rows[0].failures <= 4 and rows[1].expected == 2.0
    assert "| always_half | 0.5 | 4 | 2 | 2 |" in false_alarms.format_markdown(rows)
