"""Shared fixtures: the backend under test, its namespace and array conversion helpers.

The whole suite runs under the backend named by ``REFSDE_BACKEND`` (numpy when unset); CI runs it once
per backend (numpy, torch, array_api_strict).  Inputs are built in NumPy float64 and converted with
``asarray``; results are brought back with ``to_numpy`` and compared against closed forms computed in
the tests themselves (never against values copied from refsde's output).

Hypothesis runs with a small, derandomized profile ("refsde": 30 examples, no deadline) so that runs are
reproducible and the suite stays well under a minute per backend; set
``REFSDE_HYPOTHESIS_PROFILE=thorough`` for a longer local run.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings

import refsde
from refsde.backends import backend_of

settings.register_profile(
    "refsde",
    deadline=None,
    max_examples=30,
    derandomize=True,
    database=None,  # derandomized runs need no example database; nothing is written into the checkout
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],  # no patch files
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", deadline=None, max_examples=500, derandomize=False, database=None)
settings.load_profile(os.environ.get("REFSDE_HYPOTHESIS_PROFILE", "refsde"))


#: Tests marked ``slow`` (over ~1 s each under array_api_strict: end-to-end suites, the conformance checks'
#: cause searches, mixture statistics) verify backend-independent logic (host float64 laws, subprocesses,
#: report writing): they run in the default (numpy) pass and, on other backends, only with REFSDE_SLOW=1.
#: What a backend changes (refsde's samplers, likelihood and losses on its arrays, dtypes, devices, RNG,
#: autodiff) runs on every backend.  The whole suite on three backends serially took 1214 s of CI's 900 s.
RUN_SLOW = os.environ.get("REFSDE_BACKEND", "numpy") == "numpy" or os.environ.get("REFSDE_SLOW") == "1"


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if RUN_SLOW:
        return
    skip = pytest.mark.skip(reason="slow, backend-independent: runs in the default (numpy) pass "
                                   "(REFSDE_SLOW=1 runs it on this backend too)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config: Any) -> None:
    # torch.func.jvp goes through torch.jit.script internally in torch 2.13: not ours to fix
    config.addinivalue_line("filterwarnings", "ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def pytest_report_header(config: Any) -> str:
    env = os.environ.get("REFSDE_BACKEND", "<unset>")
    try:
        described = refsde.get_backend().describe()
    except Exception as exc:  # the header must not hide the real error; the fixture raises it again
        described = f"UNAVAILABLE ({type(exc).__name__}: {exc})"
    return f"refsde backend: {described} [REFSDE_BACKEND={env}]"


@pytest.fixture(scope="session")
def backend() -> refsde.backends.Backend:
    """The backend selected by REFSDE_BACKEND (an unusable one is an error, not a skip)."""
    return refsde.get_backend()


@pytest.fixture(scope="session")
def xp(backend: Any) -> Any:
    return backend.xp


@pytest.fixture(scope="session")
def asarray(backend: Any) -> Any:
    """``asarray(obj, dtype="float64")``: NumPy-convertible ``obj`` as an array of the backend under test.

    ``dtype`` is "float32", "float64", "int64" or a dtype of the backend's namespace.
    """
    xp = backend.xp

    def convert(obj: Any, dtype: Any = "float64") -> Any:
        if isinstance(dtype, str):
            dtype = getattr(xp, dtype)
        a = np.asarray(obj)
        if a.ndim == 0:  # some namespaces (array_api_strict) reject 0-d NumPy arrays
            return xp.asarray(a.item(), dtype=dtype, device=backend.device)
        return backend.asarray(a, dtype=dtype)

    return convert


@pytest.fixture(scope="session")
def to_numpy() -> Any:
    """``to_numpy(a)``: a NumPy copy of an array of any refsde backend (Python scalars pass through)."""

    def convert(a: Any) -> np.ndarray:
        if isinstance(a, (int, float)) or isinstance(a, (np.ndarray, np.generic)):
            return np.asarray(a)
        return np.asarray(backend_of(a).to_numpy(a))

    return convert


@pytest.fixture(scope="session")
def dtype_name() -> Any:
    """``dtype_name(a)``: "float32" / "float64" / ... for an array of any backend."""

    def name(a: Any) -> str:
        return str(a.dtype).rsplit(".", 1)[-1]

    return name


@pytest.fixture(scope="module")
def strict_2023_12(backend: Any) -> Any:
    """Under array_api_strict, allow only the 2023.12 standard (the version refsde.gaussian targets); a
    no-op on other backends.  Modules opt in with ``pytestmark = pytest.mark.usefixtures("strict_2023_12")``."""
    if backend.name != "array_api_strict":
        yield
        return
    import array_api_strict

    with array_api_strict.ArrayAPIStrictFlags(api_version="2023.12"):
        yield
