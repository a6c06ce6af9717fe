"""Every Python code block of README.md runs as written (complete examples, not fragments).

Each ```python block is executed in a fresh namespace, in order, on the NumPy backend (the README's examples
use NumPy arrays), with the blocks' own imports; a block that raises fails this test with its number.  A block
that imports third-party code (diffusers) skips, saying so, where that extra is not installed.
"""

from __future__ import annotations

import re
from pathlib import Path

import os

import pytest

import refsde

if os.environ.get("REFSDE_BACKEND", "numpy") != "numpy":
    pytest.skip("the README's blocks run on NumPy whatever REFSDE_BACKEND: once, in the default (numpy) pass",
                allow_module_level=True)

# diffusers' own warning (numpy 2's __array__ copy keyword on its float32 sigma tables), not refsde's
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    for module in re.findall(r"^from (diffusers|torchsde|torch)\b", BLOCKS[index], flags=re.M):
        pytest.importorskip(module, reason=f"README block {index + 1} needs {module} (the thirdparty extra)")
    with refsde.use_backend("numpy"):
        exec(compile(BLOCKS[index], f"README.md block {index + 1}", "exec"), {"__name__": "readme"})  # noqa: S102
