"""pytest plugin (entry point ``refsde`` in group ``pytest11``): run your tests on a chosen refsde backend.

Registered automatically once refsde is installed; disable with ``-p no:refsde``.

* option ``--refsde-backend NAME`` (default: the ``REFSDE_BACKEND`` environment variable, else "numpy");
* fixture ``refsde_backend``: the :class:`refsde.backends.Backend` of that name (session scope); an
  unavailable backend is an error of the tests using it, not a skip;
* fixture ``xp``: its array namespace.

A project's own ``conftest.py`` fixtures of the same names override these (pytest's normal rule).
Loading the plugin imports only refsde and NumPy: a backend's library (torch, jax, cupy) is imported
when a test first requests the fixture.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

OPTION = "--refsde-backend"


def default_backend_name() -> str:
    return os.environ.get("REFSDE_BACKEND") or "numpy"


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("refsde", "refsde backend selection")
    group.addoption(
        OPTION,
        action="store",
        default=None,
        metavar="NAME",
        help="refsde backend for the refsde_backend / xp fixtures: numpy, torch, array_api_strict, cupy, jax "
        "(default: $REFSDE_BACKEND, else numpy)",
    )


def pytest_report_header(config: Any) -> str | None:
    name = config.getoption(OPTION)
    return None if name is None else f"refsde plugin: --refsde-backend={name}"


@pytest.fixture(scope="session")
def refsde_backend(request: Any) -> Any:
    """The refsde Backend selected by ``--refsde-backend`` (else $REFSDE_BACKEND, else numpy)."""
    from refsde.backends import get_backend

    name = request.config.getoption(OPTION) or default_backend_name()
    return get_backend(name)


@pytest.fixture(scope="session")
def xp(refsde_backend: Any) -> Any:
    """The array namespace of ``refsde_backend``."""
    return refsde_backend.xp
