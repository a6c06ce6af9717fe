"""The preamble every conformance check shares, made one object: :class:`Setup`.

It validates what every check takes (the reference, alpha, power, the seed, tolerances), resolves the
backend and the check's dtype (and the float64 reference dtype), converts inputs and the candidate's outputs
(any array library) to host float64, raises :class:`~refsde.testing.ConformanceError` for wrong shapes and
non-finite outputs, and fills in the fields of the :class:`~refsde.testing.CheckReport` that every check
reports the same way.  :class:`SamplerSetup` adds the data case and its exact score for the sampler and
corrector checks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import check_probability
from ..backends import Backend, get_backend
from ._cases import DataCase, ExactScore
from ._inputs import dtype_name, from_numpy, host, reference_dtype, resolve_dtype, to_reference
from .errors import ConformanceError, hide_from_pytest
from .report import CheckReport

__tracebackhide__ = hide_from_pytest  # pytest shows the ConformanceError, not these frames


def input_seed(seed: int) -> int:
    """The seed of the check's own draws (x_T, the corrector's x): derived from ``seed`` rather than equal to
    it, so that a candidate seeding its noise with the same small integer does not reuse the stream (its
    noise would then equal x_T's draws and the law would be wrong through no fault of its own)."""
    return (int(seed) * 1_000_003 + 271_828_183) % (2**31 - 1)


def call_candidate(fn: Any, args: tuple, names: tuple[str, ...]) -> Any:
    """``fn(*args)``; where ``fn`` cannot take them positionally but can by the names of refsde's own functions
    (``names``: e.g. ("score_fn", "x_T", "n_steps")), ``fn(args[0], **{names[i]: args[i]})``: so that
    ``functools.partial(refsde.sampling.sample_sde, sde=ref, rng=1)`` is a candidate as it stands (its ``sde``
    sits between ``score_fn`` and ``x_T``)."""
    import inspect

    try:
        sig = inspect.signature(fn)
        sig.bind(*args)
    except TypeError:
        kwargs = dict(zip(names[1:], args[1:]))
        try:
            sig.bind(args[0], **kwargs)
        except TypeError:
            return fn(*args)  # neither way binds: let the candidate raise its own error
        return fn(args[0], **kwargs)
    except ValueError:  # no signature (a builtin): call it as documented
        return fn(*args)
    return fn(*args)


def check_tolerance(name: str, value: Any, *, allow_none: bool = True, allow_zero: bool = False) -> float | None:
    """A tolerance: None (the check's default) or a finite float > 0 (>= 0 with ``allow_zero``).  A negative,
    NaN or infinite tolerance would make ``error / tolerance <= 1`` pass anything, so it is a ValueError."""
    if value is None and allow_none:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite float > 0, got {value!r}") from None
    if not math.isfinite(out) or out < 0 or (out == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite float {bound}, got {value!r}")
    return out


class Setup:
    """Backend, dtypes, validated common arguments and conversions of one check run."""

    def __init__(self, check: str, ref: Any, backend: Any = None, dtype: Any = None, *,
                 alpha: float | None = None, power: float | None = None, seed: int = 0) -> None:
        if ref is None or not hasattr(ref, "T") or not hasattr(ref, "marginal_coefficients"):
            raise ValueError(f"ref must be the refsde SDE that is the contract (e.g. refsde.VPSDE()), got {ref!r}")
        self.check, self.ref = check, ref
        self.alpha = None if alpha is None else check_probability("alpha", alpha)
        self.power = None if power is None else check_probability("power", power)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.seed = int(seed)
        self.backend: Backend = get_backend(backend)
        self.dtype = resolve_dtype(self.backend, dtype)
        self.ref_dtype = reference_dtype(self.backend)
        self.dtype_label = dtype_name(self.backend, self.dtype)
        self.np_dtype = np.float32 if self.dtype_label == "float32" else np.float64
        self.u = float(np.finfo(self.np_dtype).eps) / 2.0  # unit roundoff of the check dtype
        self.reference = repr(ref)

    def to_backend(self, a: np.ndarray, reference: bool = False) -> Any:
        """A host array as an array of the backend in the check dtype (or the float64 reference dtype)."""
        return from_numpy(self.backend, np.asarray(a), self.ref_dtype if reference else self.dtype)

    def host(self, arr: Any) -> np.ndarray:
        return host(self.backend, arr)

    def output(self, out: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
        """The candidate's output as host float64 of ``shape``, checked for shape and finiteness.  A refsde-style
        pair (x, info) is accepted."""
        if isinstance(out, (tuple, list)) and len(out) == 2 and hasattr(out[0], "shape"):
            out = out[0]
        arr = to_reference(out, self.backend, check=self.check, name=what)
        if tuple(arr.shape) != tuple(shape):
            raise ConformanceError(self.check, f"{what} shape", expected=f"shape {tuple(shape)}",
                                   got=f"shape {tuple(arr.shape)}", reference=self.reference)
        h = self.host(arr)
        rows = h.reshape(h.shape[0], -1) if h.ndim else h.reshape(1, 1)
        if not np.all(np.isfinite(rows)):
            i = int(np.argmax(~np.all(np.isfinite(rows), axis=1)))
            raise ConformanceError(self.check, f"{what} values", input=f"sample {i}", expected="finite values",
                                   got=repr(rows[i][:8]), reference=self.reference)
        return h

    def report(self, properties: tuple[str, ...], n: int, statistics: dict[str, float], thresholds: dict[str, float],
               *, detectable: dict[str, float] | None = None, notes: tuple[str, ...] = (),
               deterministic: bool = False) -> CheckReport:
        """The passing :class:`CheckReport` with the fields every check fills the same way."""
        return CheckReport(
            check=self.check, reference=self.reference, properties=properties, n=int(n), statistics=statistics,
            thresholds=thresholds, passed=True, alpha=0.0 if deterministic else float(self.alpha or 0.0),
            power=1.0 if deterministic else float(self.power or 1.0), detectable=detectable or {},
            backend=self.backend.name, dtype=self.dtype_label, notes=notes,
        )


class SamplerSetup(Setup):
    """A :class:`Setup` with the check's data case and its exact score (sampler and corrector checks)."""

    def __init__(self, check: str, ref: Any, case: DataCase, backend: Any = None, dtype: Any = None, *,
                 alpha: float | None = None, power: float | None = None, seed: int = 0) -> None:
        super().__init__(check, ref, backend, dtype, alpha=alpha, power=power, seed=seed)
        self.case = case
        self.score_fn = ExactScore(case, ref, self.backend, self.ref_dtype, check)

    def prior(self, n: int, scale: float) -> tuple[Any, np.ndarray]:
        """x_T ~ N(0, scale^2 I) of shape (n, *shape) in the check dtype, and its host float64 eigen-coordinates
        (of the same rounded values)."""
        rng = np.random.default_rng(input_seed(self.seed))
        x = (scale * rng.standard_normal((n,) + self.case.shape)).astype(self.np_dtype)
        return self.to_backend(x), self.case.to_eigen(x.astype(np.float64))

    def eigen_output(self, out: Any, n: int, what: str) -> np.ndarray:
        """The candidate's x as host float64 eigen-coordinates (n, D)."""
        return self.case.to_eigen(self.output(out, (n,) + self.case.shape, what))
