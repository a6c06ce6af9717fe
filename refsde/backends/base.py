"""The backend plugin interface: the one place that knows which array library is in use.

A backend bundles an Array-API namespace (through array-api-compat), a default floating dtype, a
device, a seedable random-number generator, a Jacobian-vector product and a conversion to NumPy for
reports.  Core refsde code never imports an array library; it asks a :class:`Backend` (only where no
input array exists) or calls :func:`refsde._arrays.namespace_of` on its inputs.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Sequence

Array = Any
Shape = Sequence[int]


class RNG(abc.ABC):
    """Seedable random-number generator bound to one backend, device and default dtype.

    Two generators made by the same backend from the same integer seed produce identical streams.
    All methods return arrays of the backend's namespace on the backend's device.
    """

    backend: "Backend"

    @abc.abstractmethod
    def normal(self, shape: Shape, *, dtype: Any = None) -> Array:
        """Independent standard normal draws of ``shape``."""

    @abc.abstractmethod
    def uniform(self, shape: Shape, *, low: float = 0.0, high: float = 1.0, dtype: Any = None) -> Array:
        """Independent U[low, high) draws of ``shape``."""

    def rademacher(self, shape: Shape, *, dtype: Any = None) -> Array:
        """Independent draws uniform on {-1, +1} of ``shape``."""
        xp = self.backend.xp
        u = self.uniform(shape, dtype=dtype)
        one = xp.ones_like(u)
        return xp.where(u < 0.5, -one, one)


class Backend(abc.ABC):
    """An array library as refsde sees it.  Subclass this to add a backend.

    Third-party backends register a subclass (or a zero-argument factory) under the entry-point
    group ``refsde.backends``; the entry point's name is the backend's name.
    """

    #: Name used by ``REFSDE_BACKEND`` / ``use_backend``.
    name: str = "abstract"

    def __init__(self, device: str | None = None, dtype: str | None = None) -> None:
        self._device_request = device
        self._dtype_request = dtype

    # -- namespace and defaults -------------------------------------------------------------
    @property
    @abc.abstractmethod
    def xp(self) -> Any:
        """The Array-API namespace (array-api-compat wrapped where needed)."""

    @property
    @abc.abstractmethod
    def device(self) -> Any:
        """The device new arrays are created on."""

    @property
    def default_dtype(self) -> Any:
        """Floating dtype used where no input array fixes one (``REFSDE_DTYPE`` overrides)."""
        if self._dtype_request is not None:
            return self.dtype_from_name(self._dtype_request)
        return self.xp.float64

    def dtype_from_name(self, name: str) -> Any:
        if name not in ("float32", "float64"):
            raise ValueError(f"unsupported dtype {name!r}; use 'float32' or 'float64'")
        return getattr(self.xp, name)

    def owns(self, x: Any) -> bool:
        """True when ``x`` is an array of this backend's library."""
        from array_api_compat import array_namespace

        try:
            return array_namespace(x) is self.xp
        except TypeError:
            return False

    # -- creation ----------------------------------------------------------------------------
    def asarray(self, obj: Any, *, dtype: Any = None) -> Array:
        """``obj`` as an array of this backend on its device (default dtype for Python floats)."""
        xp = self.xp
        if dtype is None and not hasattr(obj, "dtype"):
            dtype = self.default_dtype
        return xp.asarray(obj, dtype=dtype, device=self.device)

    @abc.abstractmethod
    def rng(self, seed: int | None = None) -> RNG:
        """A generator reproducible from the integer ``seed`` (fresh entropy when None)."""

    # -- numerics ----------------------------------------------------------------------------
    #: True when :meth:`jvp` is exact (automatic differentiation) rather than a finite difference.
    exact_jvp: bool = False

    def jvp(self, fn: Callable[[Array], Array], x: Array, v: Array) -> tuple[Array, Array]:
        """Return ``(fn(x), J_fn(x) @ v)``.

        Default: second-order central difference with step ``h = eps**(1/3) * max(1, max|x|) / max|v|``.
        Its relative error is about ``eps**(2/3)`` times the scale of the third derivative (about 4e-11
        in float64, 2.5e-5 in float32); backends with automatic differentiation override this.
        """
        xp = self.xp
        eps = float(xp.finfo(x.dtype).eps)
        xscale = max(1.0, float(xp.max(xp.abs(x)))) if x.size else 1.0  # type: ignore[union-attr]
        vscale = float(xp.max(xp.abs(v))) if v.size else 1.0  # type: ignore[union-attr]
        if vscale == 0.0:
            fx = fn(x)
            return fx, xp.zeros_like(fx)
        h = eps ** (1.0 / 3.0) * xscale / vscale
        fx = fn(x)
        return fx, (fn(x + h * v) - fn(x - h * v)) / (2.0 * h)

    def trace_jvp(self, fn: Callable[[Array], Array], x: Array, v: Array) -> tuple[Array, Array]:
        """Return ``(fn(x), u)`` with u = J v or u = J^T v (J = J_fn(x)), whichever the backend computes faster.

        For what the divergence estimators take from u, the two are the same: the diagonal entries
        (e_i^T J e_i = e_i^T J^T e_i) and the quadratic forms v^T J v = v^T J^T v.  Default: :meth:`jvp`;
        torch overrides it with a reverse-mode vector-Jacobian product (its forward mode costs ~3x more)."""
        return self.jvp(fn, x, v)

    @abc.abstractmethod
    def to_numpy(self, x: Array) -> Any:
        """A NumPy copy of ``x`` (for reports and plots only; never used in computations)."""

    def describe(self) -> str:
        return f"{self.name} (device={self.device}, default dtype={self.default_dtype})"

    def __repr__(self) -> str:
        return f"<refsde backend {self.describe()}>"
