"""Optional progress bar: tqdm when it is installed and asked for, else a plain range."""

from __future__ import annotations

from typing import Iterable


def steps(n: int, enabled: bool, desc: str) -> Iterable[int]:
    """range(n), wrapped in a tqdm bar when ``enabled`` and tqdm is importable (silently plain otherwise)."""
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return range(n)
        return tqdm(range(n), desc=desc, leave=False)
    return range(n)
