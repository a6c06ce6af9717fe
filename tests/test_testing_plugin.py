"""The refsde pytest plugin: --refsde-backend, the refsde_backend and xp fixtures, entry-point
registration, conftest override, and no torch import at load time.  Uses pytest's ``pytester``
(subprocess runs: an in-process run would unload and re-import NumPy submodules)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # end to end (subprocesses, whole suites): once, in the default (numpy) pass

pytest_plugins = ["pytester"]

PROBE = """
def test_probe(refsde_backend, xp):
    assert xp is refsde_backend.xp
    print("BACKEND=" + refsde_backend.name)
"""


def _backend_line(result: Any) -> str:
    lines = [ln for ln in result.outlines if "BACKEND=" in ln]
    assert lines, "\n".join(result.outlines)
    return lines[0].split("BACKEND=", 1)[1].strip()


def test_plugin_is_registered_under_pytest11() -> None:
    eps = [ep for ep in entry_points(group="pytest11") if ep.name == "refsde"]
    assert eps and eps[0].value == "refsde.testing.pytest_plugin"


def test_option_selects_the_backend(pytester: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("REFSDE_BACKEND", raising=False)
    pytester.makepyfile(PROBE)
    result = pytester.runpytest_subprocess("-s", "--refsde-backend=array_api_strict")
    result.assert_outcomes(passed=1)
    assert _backend_line(result) == "array_api_strict"


def test_default_is_env_then_numpy(pytester: Any, monkeypatch: Any) -> None:
    pytester.makepyfile(PROBE)
    monkeypatch.delenv("REFSDE_BACKEND", raising=False)
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    assert _backend_line(result) == "numpy"
    monkeypatch.setenv("REFSDE_BACKEND", "array_api_strict")
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    assert _backend_line(result) == "array_api_strict"


def test_unknown_backend_is_an_error_not_a_skip(pytester: Any) -> None:
    pytester.makepyfile(PROBE)
    result = pytester.runpytest_subprocess("--refsde-backend=no_such_backend")
    result.assert_outcomes(errors=1)


def test_conftest_fixture_overrides_the_plugin(pytester: Any) -> None:
    pytester.makeconftest(
        """
import pytest

@pytest.fixture
def xp():
    return "from conftest"
"""
    )
    pytester.makepyfile(
        """
def test_override(xp, refsde_backend):
    assert xp == "from conftest"
    assert refsde_backend.name == "numpy"
"""
    )
    result = pytester.runpytest_subprocess("--refsde-backend=numpy")
    result.assert_outcomes(passed=1)


def test_plugin_can_be_disabled(pytester: Any) -> None:
    pytester.makepyfile(PROBE)
    result = pytester.runpytest_subprocess("-p", "no:refsde")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'refsde_backend' not found*"])


def test_loading_the_plugin_does_not_import_torch() -> None:
    code = (
        "import sys\nimport refsde.testing.pytest_plugin\n"
        "bad = [m for m in ('torch', 'jax', 'cupy', 'hypothesis') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_help_lists_the_option(pytester: Any) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--refsde-backend=NAME*"])


@pytest.mark.parametrize("name", ["numpy"])
def test_our_conftest_backend_fixture_still_wins(name: str, backend: Any, xp: Any) -> None:
    # tests/conftest.py's xp (from REFSDE_BACKEND) overrides the plugin's: same namespace as `backend`
    assert xp is backend.xp
