"""The new-user scenario of issue 16, as a fixture: a small user code base with a planted bug, its pytest file,
and an ``refsde validate --impl`` run, checked end to end in subprocesses (as a user runs them).

* pytest on the user's test file: each failure shows the ConformanceError's text and the user's own frame, not
  refsde's internals (``__tracebackhide__`` in refsde.testing): at most 40 lines per failure;
* a torch code base run without ``--backend``: one line saying which backend to use, exit code 2; with
  ``backend = "torch"`` declared on the implementation it runs on torch by itself;
* the planted bug is named in the failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# subprocesses in a new user's shell (REFSDE_BACKEND unset): the same runs whatever this pass's backend, so once
if os.environ.get("REFSDE_BACKEND", "numpy") != "numpy":
    pytest.skip("the new-user scenario runs without REFSDE_BACKEND: once, in the default (numpy) pass",
                allow_module_level=True)

USER_CODE = '''
"""A user's diffusion code (NumPy): VP SDE pieces and an Euler-Maruyama sampler."""
import numpy as np
import refsde

reference = refsde.VPSDE(beta_min=0.1, beta_max=20.0)
B0, B1 = 0.1, 20.0


def sde_fn(x, t):
    beta = B0 + (B1 - B0) * t
    return -0.5 * beta[:, None] * x, np.sqrt(beta)


def marginal_fn(x0, t):
    B = B0 * t + 0.5 * (B1 - B0) * t ** 2
    return np.exp(-0.5 * B)[:, None] * x0, np.sqrt(-np.expm1(-B))


def sde_sampler(score_fn, x, n_steps):
    rng = np.random.default_rng(7)
    ts = np.linspace(1.0, 1e-3, n_steps + 1)
    for k in range(n_steps):
        t, h = ts[k], ts[k] - ts[k + 1]
        beta = B0 + (B1 - B0) * t
        drift = -0.5 * beta * x - np.sqrt(beta) * score_fn(x, t)   # planted bug: g instead of g^2
        x = x - drift * h + np.sqrt(beta * h) * rng.standard_normal(x.shape)
    return x


check_options = {"sde_sampler": {"method": "euler_maruyama", "n_steps": 50}}
'''

USER_TESTS = '''
import mydiff
from refsde import testing as rt


def test_coefficients():
    rt.check_coefficients(mydiff.sde_fn, mydiff.reference)


def test_marginal():
    rt.check_marginal(mydiff.marginal_fn, mydiff.reference)


def test_sampler():
    rt.check_sde_sampler(mydiff.sde_sampler, mydiff.reference, n_steps=50, method="euler_maruyama")


def test_sampler_order():
    rt.check_sde_sampler(mydiff.sde_sampler, mydiff.reference, n_steps=50)
'''

TORCH_CODE = '''
import torch
import refsde

reference = refsde.VPSDE()


def sde_fn(x, t):
    beta = 0.1 + 19.9 * t
    return -0.5 * beta.unsqueeze(-1) * x, torch.sqrt(beta)
'''


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(cwd), OMP_NUM_THREADS="1")
    env.pop("REFSDE_BACKEND", None)  # a new user's shell
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    (tmp_path / "mydiff.py").write_text(textwrap.dedent(USER_CODE))
    (tmp_path / "test_mydiff.py").write_text(textwrap.dedent(USER_TESTS))
    return tmp_path


def test_pytest_output_is_the_conformance_error_not_refsde_internals(user_project: Path) -> None:
    proc = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mydiff.py"], user_project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "2 failed, 2 passed" in out, out
    sections = re.split(r"\n_{5,} test_\w+ _{5,}\n", out.split("= FAILURES =")[1].split("short test summary")[0])
    failures = [s for s in sections if "ConformanceError" in s]
    assert len(failures) == 2, out
    for text in failures:
        lines = text.strip().splitlines()
        assert len(lines) <= 40, "\n".join(lines)
        assert "refsde/testing" not in text and "_stats.py" not in text  # no refsde frames
        assert "test_mydiff.py" in text  # the user's frame
        assert "likely cause" in text and "g(t) in place of g(t)^2" in text  # the planted bug, named


def test_impl_run_fails_on_the_planted_bug(user_project: Path) -> None:
    proc = _run([sys.executable, "-m", "refsde", "validate", "--impl", "mydiff", "--report", "R.md", "--plots", "figs"],
                user_project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines() if line.startswith("impl.")}
    assert rows["impl.coefficients"] == "PASS" and rows["impl.marginal"] == "PASS"
    assert rows["impl.sde_sampler"] == "FAIL"
    assert "likely cause: g(t) in place of g(t)^2" in proc.stdout
    # figures of the user's pieces only: their coefficients, std(t), and the QQ plot of their sampler's outputs
    pytest.importorskip("matplotlib")
    figures = sorted(p.name for p in (user_project / "figs").iterdir())
    assert figures == ["impl_coefficients.png", "impl_marginal.png", "impl_sde_sampler.png"], figures
    report = (user_project / "R.md").read_text()
    assert "sde_sampler, checked by check_sde_sampler: FAIL" in report and "likely cause: g(t) in place of g(t)^2" in report


def test_torch_code_gets_a_one_line_backend_hint(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "torchdiff.py").write_text(textwrap.dedent(TORCH_CODE))
    proc = _run([sys.executable, "-m", "refsde", "validate", "--impl", "torchdiff"], tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    hints = [line for line in proc.stdout.splitlines() if "rejected" in line]
    assert hints == ["refsde validate: your code rejected numpy arrays; set backend = 'torch' on the impl or pass "
                     "--backend torch"], proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    (tmp_path / "torchdiff2.py").write_text(textwrap.dedent(TORCH_CODE) + '\nbackend = "torch"\n')
    proc = _run([sys.executable, "-m", "refsde", "validate", "--impl", "torchdiff2"], tmp_path)
    assert proc.returncode == 0 and "on torch" in proc.stdout, proc.stdout + proc.stderr
