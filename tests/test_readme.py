"""The README's example runs as written (on NumPy, as printed there)."""

from __future__ import annotations

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs_and_matches_closed_forms(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - our own README
    # independent check of what the example computes: VP marginal std sqrt(1 - exp(-B(t)))
    t = np.array([0.1, 0.7])
    B = 0.1 * t + 0.5 * (20.0 - 0.1) * t**2
    np.testing.assert_allclose(np.ravel(namespace["std"]), np.sqrt(1 - np.exp(-B)), rtol=1e-12)
    np.testing.assert_allclose(namespace["mean"], np.exp(-B / 2)[:, None] * namespace["x0"], rtol=1e-12)
    assert capsys.readouterr().out.strip()
