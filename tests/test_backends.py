"""The backend layer: selection precedence, environment variables, errors, plugins, RNG, jvp, to_numpy."""

from __future__ import annotations

import importlib.metadata
import math
import os
import subprocess
import sys
import textwrap
import threading
import types

import numpy as np
import pytest

import refsde
from refsde import backends as B
from refsde.backends import Backend, BackendUnavailableError

ALL_BUILTIN = ("array_api_strict", "cupy", "jax", "numpy", "torch")


@pytest.fixture(autouse=True)
def isolated_selection(monkeypatch):
    """Each test starts with no global choice, an empty backend cache and no REFSDE_* variables."""
    monkeypatch.setattr(B, "_cache", {})
    monkeypatch.setattr(B, "_global_choice", None)
    for var in ("REFSDE_BACKEND", "REFSDE_DEVICE", "REFSDE_DTYPE"):
        monkeypatch.delenv(var, raising=False)


def _strict():
    pytest.importorskip("array_api_strict", reason="array_api_strict is not installed")
    return "array_api_strict"


def _torch():
    return pytest.importorskip("torch", reason="torch is not installed")


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REFSDE_")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)


# ---------------------------------------------------------------------------------------------------
# selection precedence
# ---------------------------------------------------------------------------------------------------
def test_default_is_numpy():
    assert refsde.get_backend().name == "numpy"
    assert refsde.get_backend().default_dtype == np.float64


def test_env_is_read_on_first_use_not_at_import(monkeypatch):
    strict = _strict()
    # refsde is already imported: the variable set now must still be honoured ...
    monkeypatch.setenv("REFSDE_BACKEND", strict)
    assert refsde.get_backend().name == strict
    # ... and re-read on each use while nothing else is chosen (names are case/space-insensitive)
    monkeypatch.setenv("REFSDE_BACKEND", "  NumPy ")
    assert refsde.get_backend().name == "numpy"
    monkeypatch.setenv("REFSDE_BACKEND", "")
    assert refsde.get_backend().name == "numpy"


def test_bad_env_does_not_break_import_only_first_use():
    proc = _run_python(
        "import refsde\n"
        "try:\n    refsde.get_backend()\nexcept ValueError as e:\n    print('ValueError:', e)\n",
        REFSDE_BACKEND="no_such_backend",
    )
    assert proc.returncode == 0, proc.stderr
    assert "ValueError:" in proc.stdout and "no_such_backend" in proc.stdout


def test_precedence_explicit_over_context_over_global_over_env(monkeypatch):
    strict = _strict()
    monkeypatch.setenv("REFSDE_BACKEND", strict)
    assert refsde.get_backend().name == strict  # env
    refsde.set_backend("numpy")
    assert refsde.get_backend().name == "numpy"  # global beats env
    with refsde.use_backend(strict) as chosen:
        assert chosen.name == strict
        assert refsde.get_backend().name == strict  # context beats global
        assert refsde.get_backend("numpy").name == "numpy"  # explicit beats context
        with refsde.use_backend("numpy"):
            assert refsde.get_backend().name == "numpy"  # innermost context wins
        assert refsde.get_backend().name == strict
        # explicit backend= arguments of the public functions
        assert isinstance(refsde.VPSDE().prior_sample((2, 3), 0, backend="numpy"), np.ndarray)
        assert refsde.make_rng(0, backend="numpy").backend.name == "numpy"
        assert refsde.get_backend().owns(refsde.VPSDE().prior_sample((2, 3), 0))
    assert refsde.get_backend().name == "numpy"  # context left: global again
    refsde.set_backend(None)
    assert refsde.get_backend().name == strict  # global cleared: env again
    monkeypatch.delenv("REFSDE_BACKEND")
    assert refsde.get_backend().name == "numpy"  # nothing chosen


def test_use_backend_restores_after_exception():
    strict = _strict()
    with pytest.raises(RuntimeError, match="boom"):
        with refsde.use_backend(strict):
            raise RuntimeError("boom")
    assert refsde.get_backend().name == "numpy"


def test_use_backend_is_thread_local():
    strict = _strict()
    seen = {}
    with refsde.use_backend(strict):
        worker = threading.Thread(target=lambda: seen.setdefault("name", refsde.get_backend().name))
        worker.start()
        worker.join()
        assert refsde.get_backend().name == strict
    assert seen["name"] == "numpy"


def test_set_backend_accepts_backend_instance():
    inst = refsde.get_backend("numpy")
    refsde.set_backend(inst)
    assert refsde.get_backend() is inst
    with pytest.raises(TypeError):
        refsde.get_backend(3.0)


# ---------------------------------------------------------------------------------------------------
# REFSDE_DTYPE / REFSDE_DEVICE
# ---------------------------------------------------------------------------------------------------
def test_refsde_dtype_is_honoured(monkeypatch, backend):
    name = backend.name
    monkeypatch.setenv("REFSDE_DTYPE", "float32")
    b = refsde.get_backend(name)
    assert b.default_dtype == b.xp.float32
    with refsde.use_backend(name):
        sde = refsde.VPSDE()
        assert sde.sigma(0.5).dtype == b.xp.float32  # Python float t takes the default dtype
        assert sde.prior_sample((3, 2), 0).dtype == b.xp.float32
        assert refsde.make_rng(0).normal((4,)).dtype == b.xp.float32
    monkeypatch.setenv("REFSDE_DTYPE", "float64")
    assert refsde.get_backend(name).default_dtype == b.xp.float64
    # an explicit dtype= beats the variable
    assert refsde.get_backend(name, dtype="float32").default_dtype == b.xp.float32


def test_refsde_dtype_invalid_is_rejected_at_selection(monkeypatch, backend):
    monkeypatch.setenv("REFSDE_DTYPE", "float16")
    with pytest.raises(ValueError, match="float16"):
        refsde.get_backend(backend.name)


def test_refsde_device_cpu(monkeypatch, backend):
    monkeypatch.setenv("REFSDE_DEVICE", "cpu")
    if backend.name == "cupy":  # GPU-only library: a clear error, not a crash
        with pytest.raises(ValueError, match="CUDA"):
            refsde.get_backend("cupy")
        return
    b = refsde.get_backend(backend.name)
    assert "cpu" in str(b.device).lower()
    assert b.owns(b.asarray([1.0, 2.0]))


def test_refsde_device_numpy_rejects_gpu(monkeypatch):
    monkeypatch.setenv("REFSDE_DEVICE", "cuda:0")
    with pytest.raises(ValueError, match="cpu"):
        refsde.get_backend("numpy")
    # an explicit device= beats the variable
    assert refsde.get_backend("numpy", device="cpu").device == "cpu"


def test_refsde_device_array_api_strict(monkeypatch):
    strict = _strict()
    import array_api_strict

    monkeypatch.setenv("REFSDE_DEVICE", "device1")
    b = refsde.get_backend(strict)
    assert b.device == array_api_strict.Device("device1")
    assert b.asarray([1.0]).device == array_api_strict.Device("device1")
    assert b.rng(0).normal((2,)).device == array_api_strict.Device("device1")
    monkeypatch.setenv("REFSDE_DEVICE", "no_such_device")
    with pytest.raises(ValueError, match="no_such_device"):
        refsde.get_backend(strict)


def test_refsde_device_torch_cuda_unavailable(monkeypatch):
    torch = _torch()
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is available here")
    monkeypatch.setenv("REFSDE_DEVICE", "cuda")
    with pytest.raises(BackendUnavailableError, match="cuda"):
        refsde.get_backend("torch")


# ---------------------------------------------------------------------------------------------------
# errors: unknown and unavailable backends
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["get", "set", "use", "env"])
def test_unknown_name_lists_available(monkeypatch, how):
    with pytest.raises(ValueError) as info:
        if how == "get":
            refsde.get_backend("nope")
        elif how == "set":
            refsde.set_backend("nope")
        elif how == "use":
            with refsde.use_backend("nope"):
                pass
        else:
            monkeypatch.setenv("REFSDE_BACKEND", "nope")
            refsde.get_backend()
    msg = str(info.value)
    assert "'nope'" in msg
    for name in ALL_BUILTIN:
        assert name in msg
    assert set(ALL_BUILTIN) <= set(refsde.available_backends())


def test_real_cupy_and_jax_unavailable_name_the_reason():
    for name in ("cupy", "jax"):
        try:
            b = refsde.get_backend(name)
        except BackendUnavailableError as exc:
            msg = str(exc)
            assert name in msg
            assert "not installed" in msg or "GPU" in msg or "CUDA" in msg or "X64" in msg
        else:  # usable here (a GPU machine with cupy, or jax installed): it must then work
            assert b.name == name


@pytest.mark.parametrize("library", ["cupy", "jax", "array_api_strict", "torch"])
def test_missing_library_raises_unavailable(monkeypatch, library):
    # sys.modules[name] = None makes ``import name`` fail with ModuleNotFoundError, as if not installed
    monkeypatch.setitem(sys.modules, library, None)
    monkeypatch.delitem(sys.modules, f"refsde.backends.{library}_backend", raising=False)
    with pytest.raises(BackendUnavailableError, match=f"needs {library}, which is not installed"):
        refsde.get_backend(library)


def test_cupy_without_gpu_raises_unavailable(monkeypatch):
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(is_available=lambda: False)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(BackendUnavailableError, match="no GPU"):
        refsde.get_backend("cupy")

    def broken():
        raise RuntimeError("CUDA driver version is insufficient")

    fake.cuda = types.SimpleNamespace(is_available=broken)
    with pytest.raises(BackendUnavailableError, match="CUDA driver version is insufficient"):
        refsde.get_backend("cupy")


# ---------------------------------------------------------------------------------------------------
# entry-point plugins
# ---------------------------------------------------------------------------------------------------
PLUGIN_SOURCE = textwrap.dedent(
    """
    import numpy as np
    from refsde.backends import Backend
    from refsde.backends.numpy_backend import NumpyRNG


    class FakeBackend(Backend):
        name = "fakeplug"

        @property
        def xp(self):
            import array_api_compat.numpy as xp
            return xp

        @property
        def device(self):
            return "cpu"

        def rng(self, seed=None):
            return NumpyRNG(self, seed)

        def to_numpy(self, x):
            return np.asarray(x)


    def zero_argument_factory():
        return FakeBackend()


    def not_a_backend(device=None, dtype=None):
        return object()
    """
)


@pytest.fixture
def plugins(monkeypatch, tmp_path):
    """Register entry points of group refsde.backends pointing into a module written to tmp_path."""
    (tmp_path / "fake_refsde_plugin.py").write_text(PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fake_refsde_plugin", raising=False)
    group = "refsde.backends"
    eps = importlib.metadata.EntryPoints(
        [
            importlib.metadata.EntryPoint("fakeplug", "fake_refsde_plugin:FakeBackend", group),
            importlib.metadata.EntryPoint("fakezero", "fake_refsde_plugin:zero_argument_factory", group),
            importlib.metadata.EntryPoint("fakebad", "fake_refsde_plugin:not_a_backend", group),
            importlib.metadata.EntryPoint("fakemissing", "no_such_refsde_plugin_module:Backend", group),
        ]
    )
    real = importlib.metadata.entry_points

    def entry_points(**kwargs):
        if kwargs.get("group") == group:
            return eps
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_plugin_is_listed_and_selectable(plugins, monkeypatch):
    names = refsde.available_backends()
    assert {"fakeplug", "fakezero", "numpy"} <= set(names)
    b = refsde.get_backend("fakeplug")
    assert isinstance(b, Backend) and type(b).__name__ == "FakeBackend"
    assert refsde.get_backend("fakeplug") is b  # cached
    with refsde.use_backend("fakeplug"):
        z = refsde.VPSDE().prior_sample((3, 2), 7)
        assert isinstance(z, np.ndarray) and z.shape == (3, 2)
        np.testing.assert_array_equal(z, refsde.VPSDE().prior_sample((3, 2), 7, backend="numpy"))
    monkeypatch.setenv("REFSDE_BACKEND", "fakeplug")
    assert refsde.get_backend() is b
    with pytest.raises(ValueError, match="fakeplug"):  # the error message lists plugins too
        refsde.get_backend("nope")


def test_plugin_zero_argument_factory(plugins):
    assert type(refsde.get_backend("fakezero")).__name__ == "FakeBackend"
    with pytest.raises(ValueError, match="zero-argument"):
        refsde.get_backend("fakezero", device="cuda:1")


def test_plugin_returning_non_backend_is_type_error(plugins):
    with pytest.raises(TypeError, match="not a refsde Backend"):
        refsde.get_backend("fakebad")


def test_plugin_that_cannot_be_imported_is_unavailable(plugins):
    with pytest.raises(BackendUnavailableError, match="fakemissing"):
        refsde.get_backend("fakemissing")


def test_plugin_lookup_via_entry_point_factories(monkeypatch):
    """The registry reads plugins through _entry_point_factories (name -> object with .load())."""

    from refsde.backends.numpy_backend import NumpyBackend

    class Loaded(NumpyBackend):
        name = "viafactories"

    plugin = types.SimpleNamespace(load=lambda: Loaded)
    monkeypatch.setattr(B, "_entry_point_factories", lambda: {"viafactories": plugin})
    assert "viafactories" in refsde.available_backends()
    assert isinstance(refsde.get_backend("viafactories"), Loaded)


# ---------------------------------------------------------------------------------------------------
# random numbers
# ---------------------------------------------------------------------------------------------------
def _draws(rng):
    return [rng.normal((5,)), rng.uniform((3, 2)), rng.rademacher((7,)), rng.normal((2, 2))]


def test_rng_same_seed_same_stream(backend, to_numpy):
    a, b = _draws(backend.rng(1234)), _draws(backend.rng(1234))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(to_numpy(u), to_numpy(v))
    # make_rng uses the active backend and the same seed -> the same stream
    with refsde.use_backend(backend):
        c = _draws(refsde.make_rng(1234))
        d = _draws(refsde.make_rng(np.int64(1234)))  # NumPy integer seeds are accepted
    for u, v, w in zip(a, c, d):
        np.testing.assert_array_equal(to_numpy(u), to_numpy(v))
        np.testing.assert_array_equal(to_numpy(u), to_numpy(w))


def test_rng_different_seeds_and_successive_draws_differ(backend, to_numpy):
    a, b = backend.rng(1), backend.rng(2)
    x1, y1 = to_numpy(a.normal((64,))), to_numpy(b.normal((64,)))
    assert not np.array_equal(x1, y1)
    x2 = to_numpy(a.normal((64,)))
    assert not np.array_equal(x1, x2)  # the stream advances
    # unseeded generators draw fresh entropy
    assert not np.array_equal(to_numpy(backend.rng().normal((64,))), to_numpy(backend.rng().normal((64,))))


def test_make_rng_passthrough_and_type_errors(backend):
    rng = backend.rng(0)
    assert refsde.make_rng(rng) is rng
    assert refsde.make_rng(rng, backend=backend) is rng
    with pytest.raises(TypeError):
        refsde.make_rng("seed")
    with pytest.raises(TypeError):
        refsde.make_rng(1.5)
    other = "numpy" if backend.name != "numpy" else _strict()
    with pytest.raises(TypeError, match="belongs to backend"):
        refsde.make_rng(rng, backend=other)


@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_rng_shapes_dtypes_ranges(backend, xp, to_numpy, shape):
    rng = backend.rng(3)
    for draw in (rng.normal, rng.uniform, rng.rademacher):
        out = draw(shape)
        assert backend.owns(out)
        assert tuple(out.shape) == shape
        assert out.dtype == backend.default_dtype
        out32 = draw(shape, dtype=xp.float32)
        assert out32.dtype == xp.float32 and tuple(out32.shape) == shape
    u = to_numpy(rng.uniform((1000,), low=-2.0, high=3.0))
    assert np.all(u >= -2.0) and np.all(u < 3.0)
    assert u.min() < -1.9 and u.max() > 2.9  # covers the interval, not a sub-range
    r = to_numpy(rng.rademacher((1000,), dtype=xp.float32))
    assert set(np.unique(r).tolist()) == {-1.0, 1.0}


@pytest.mark.statistical
def test_rng_statistics(backend, to_numpy):
    """Fixed-seed sanity check of the three distributions.

    Each bound below is a 5-sigma (or p < 1e-6) two-sided bound, so for a correct generator a random
    seed would fail one of the 7 checks with probability < 7e-6 (the seed is fixed, so the outcome is
    deterministic; the rate says how unlucky a seed must be to fail).
    """
    stats = pytest.importorskip("scipy.stats", reason="scipy is not installed")
    n = 100_000
    rng = backend.rng(20240601)
    z = to_numpy(rng.normal((n,))).astype(np.float64)
    assert abs(z.mean()) < 5.0 / math.sqrt(n)
    assert abs(z.var() - 1.0) < 5.0 * math.sqrt(2.0 / n)
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 5.0 / math.sqrt(n)  # no lag-1 correlation
    assert stats.kstest(z, "norm").pvalue > 1e-6
    u = to_numpy(rng.uniform((n,), low=-1.0, high=2.0)).astype(np.float64)
    assert stats.kstest(u, stats.uniform(loc=-1.0, scale=3.0).cdf).pvalue > 1e-6
    r = to_numpy(rng.rademacher((n,)))
    assert abs(np.sum(r == 1.0) - n / 2) < 5.0 * math.sqrt(n) / 2
    assert np.sum(r == 1.0) + np.sum(r == -1.0) == n


# ---------------------------------------------------------------------------------------------------
# jvp
# ---------------------------------------------------------------------------------------------------
def _jvp_problem(xp, x, v):
    """fn(x)_i = sin(x_i) (1 + |x|^2) per row; J v = cos(x)(1 + |x|^2) v + 2 sin(x) (x . v)."""

    def fn(y):
        return xp.sin(y) * (1.0 + xp.sum(y * y, axis=-1, keepdims=True))

    r2 = np.sum(x * x, axis=-1, keepdims=True)
    jv = np.cos(x) * (1.0 + r2) * v + 2.0 * np.sin(x) * np.sum(x * v, axis=-1, keepdims=True)
    return fn, np.sin(x) * (1.0 + r2), jv


def _check_jvp(b, dtype_name, exact):
    xp = b.xp
    gen = np.random.default_rng(5)
    x = gen.uniform(-1.5, 1.5, size=(4, 3))
    v = gen.normal(size=(4, 3))
    fn, f_expected, jv_expected = _jvp_problem(xp, x, v)
    dtype = getattr(xp, dtype_name)
    fx, jv = b.jvp(fn, b.asarray(x, dtype=dtype), b.asarray(v, dtype=dtype))
    fx, jv = b.to_numpy(fx), b.to_numpy(jv)
    assert fx.dtype == np.dtype(dtype_name) and jv.dtype == np.dtype(dtype_name)
    eps = float(np.finfo(dtype_name).eps)
    scale = np.max(np.abs(jv_expected))
    np.testing.assert_allclose(fx, f_expected, rtol=0, atol=8 * eps * np.max(np.abs(f_expected)))
    if exact:
        tol = 8 * eps * 10 * scale  # autodiff: rounding only (|x|^2 <= 7 amplifies a little)
    else:
        # documented central-difference accuracy: relative error ~ eps^(2/3) times the scale of the third
        # derivative (here ~10); 50x margin for the constants.  A first-order difference would be
        # ~eps^(1/2) ~ 1e-8 (float64) and fail this.
        tol = 50 * eps ** (2.0 / 3.0) * 10 * scale
    err = np.max(np.abs(jv - jv_expected))
    assert err < tol, (err, tol)
    return err


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_jvp_active_backend(backend, dtype_name):
    _check_jvp(backend, dtype_name, backend.exact_jvp)


def test_jvp_torch_is_exact():
    _torch()
    b = refsde.get_backend("torch")
    assert b.exact_jvp
    err = _check_jvp(b, "float64", exact=True)
    assert err < 1e-13


@pytest.mark.parametrize("name", ["numpy", "array_api_strict"])
def test_jvp_central_difference_accuracy(name):
    if name == "array_api_strict":
        _strict()
    b = refsde.get_backend(name)
    assert not b.exact_jvp
    err = _check_jvp(b, "float64", exact=False)
    assert err > 0.0  # a finite difference, not exact (so the tolerance above is the one tested)


def test_jvp_zero_direction(backend, asarray, to_numpy):
    x = asarray([[0.3, -0.2]])
    fx, jv = backend.jvp(lambda y: backend.xp.exp(y), x, asarray([[0.0, 0.0]]))
    np.testing.assert_allclose(to_numpy(fx), np.exp([[0.3, -0.2]]), rtol=1e-15)
    np.testing.assert_array_equal(to_numpy(jv), 0.0)


# ---------------------------------------------------------------------------------------------------
# conversion, namespace ownership, import isolation, mixed libraries
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_to_numpy_round_trip(backend, dtype_name):
    a = np.arange(12, dtype=dtype_name).reshape(3, 4) / 7
    arr = backend.asarray(a, dtype=getattr(backend.xp, dtype_name))
    out = backend.to_numpy(arr)
    assert isinstance(out, np.ndarray) and out.dtype == np.dtype(dtype_name)
    np.testing.assert_array_equal(out, a)
    assert refsde.backends.backend_of(arr).name == backend.name
    assert backend.owns(arr) and not backend.owns([1.0])


def test_import_refsde_imports_no_array_library():
    proc = _run_python(
        "import refsde, sys\n"
        "refsde.VPSDE().sigma(0.5)\n"
        "assert not {'torch', 'jax', 'cupy'} & set(sys.modules), sorted({'torch', 'jax', 'cupy'} & set(sys.modules))\n"
    )
    assert proc.returncode == 0, proc.stderr


def test_subpackages_load_on_first_attribute_access():
    """PEP 562: ``import refsde`` alone gives refsde.sampling, refsde.likelihood, refsde.testing ... on first use,
    without importing them (or any array library) at ``import refsde``."""
    proc = _run_python(
        "import refsde, sys\n"
        "lazy = ('sampling', 'likelihood', 'testing', 'losses', 'gaussian', 'ode')\n"
        "assert not [m for m in lazy if f'refsde.{m}' in sys.modules], sorted(sys.modules)\n"
        "sde = refsde.VPSDE()\n"
        "x, info = refsde.sampling.sample_sde(lambda x, t: -x, sde, sde.prior_sample((3, 2), 0), 5, rng=0)\n"
        "assert tuple(x.shape) == (3, 2) and info.nfe == 5\n"
        "assert callable(refsde.likelihood.log_likelihood) and callable(refsde.testing.check_prior)\n"
        "assert set(lazy) <= set(dir(refsde))\n"
        "try:\n"
        "    refsde.no_such_module\n"
        "except AttributeError as e:\n"
        "    assert 'no_such_module' in str(e)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
        "assert not {'torch', 'jax', 'cupy'} & set(sys.modules)\n"
    )
    assert proc.returncode == 0, proc.stderr


def test_mixed_numpy_and_torch_is_type_error_naming_both():
    torch = _torch()
    sde = refsde.VPSDE()
    x = np.ones((2, 3))
    with pytest.raises(TypeError, match=r"numpy.*torch"):
        sde.marginal(x, torch.tensor([0.1, 0.2], dtype=torch.float64))
    with pytest.raises(TypeError, match=r"torch.*numpy"):
        sde.drift(torch.ones((2, 3), dtype=torch.float64), np.array([0.1, 0.2]))


def test_mixed_numpy_and_strict_is_type_error_naming_both():
    _strict()
    import array_api_strict

    with pytest.raises(TypeError, match=r"numpy.*array_api_strict"):
        refsde.VESDE().marginal(np.ones((2, 3)), array_api_strict.asarray([0.1, 0.2]))


def test_backend_of_follows_the_array_device():
    """An array on a second device maps to a backend on that device, not to the active one."""
    xs = pytest.importorskip("array_api_strict")
    from refsde.backends import backend_of

    devices = list(xs.__array_namespace_info__().devices())
    if len(devices) < 2:
        pytest.skip("array_api_strict exposes a single device here")
    x = xs.ones(3, device=devices[1])
    assert backend_of(x).device == devices[1]
    assert backend_of(xs.ones(3, device=devices[0])).device == devices[0]
    assert refsde.make_rng(0, backend_of(x)).normal((2,)).device == devices[1]


def test_refsde_device_applies_only_to_the_backend_refsde_backend_names(monkeypatch):
    monkeypatch.setenv("REFSDE_BACKEND", "array_api_strict")
    monkeypatch.setenv("REFSDE_DEVICE", "device1")
    pytest.importorskip("array_api_strict")
    assert refsde.get_backend("numpy").device == "cpu"  # not an error: the device is array_api_strict's
    assert "device1" in str(refsde.get_backend("array_api_strict").device)


def test_make_rng_rejects_an_rng_on_another_device():
    xs = pytest.importorskip("array_api_strict")
    devices = list(xs.__array_namespace_info__().devices())
    if len(devices) < 2:
        pytest.skip("array_api_strict exposes a single device here")
    from refsde.backends import backend_of

    gen = refsde.make_rng(0, refsde.get_backend("array_api_strict", device="CPU_DEVICE"))
    with pytest.raises(ValueError, match="device"):
        refsde.make_rng(gen, backend_of(xs.ones(2, device=devices[1])))


def test_public_sde_methods_reject_nan_x():
    sde = refsde.VPSDE()
    x = np.array([[np.nan, 1.0]])
    with pytest.raises(ValueError, match="NaN"):
        sde.drift(x, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        sde.prior_logp(x)


def test_torch_trace_jvp_is_the_transposed_product_with_the_same_trace() -> None:
    """torch's trace_jvp (the divergence's Jacobian product) is J^T v by one backward pass: for a
    non-symmetric linear map its diagonal and quadratic forms equal those of J v; a constant map gives 0;
    with x requiring grad the result stays differentiable."""
    torch = pytest.importorskip("torch")
    b = refsde.get_backend("torch", dtype="float64")
    A = torch.tensor([[1.0, 2.0, 0.0], [-3.0, 0.5, 1.0], [0.0, 4.0, -2.0]], dtype=torch.float64)
    fn = lambda z: z @ A.T  # noqa: E731 - J = A per sample
    x = torch.randn(5, 3, dtype=torch.float64)
    v = torch.randn(5, 3, dtype=torch.float64)
    fx, u = b.trace_jvp(fn, x, v)
    _, jv = b.jvp(fn, x, v)
    torch.testing.assert_close(fx, fn(x))
    torch.testing.assert_close(u, v @ A)  # J^T v
    torch.testing.assert_close(torch.sum(v * u, dim=1), torch.sum(v * jv, dim=1))  # v^T J^T v = v^T J v
    for i in range(3):
        e = torch.zeros_like(x)
        e[:, i] = 1.0
        assert torch.allclose(b.trace_jvp(fn, x, e)[1][:, i], b.jvp(fn, x, e)[1][:, i])  # diagonal entries
    assert not fx.requires_grad and not u.requires_grad
    assert torch.count_nonzero(b.trace_jvp(lambda z: torch.ones_like(z), x, v)[1]) == 0
    xg = x.clone().requires_grad_(True)
    fx, u = b.trace_jvp(lambda z: z * z, xg, v)  # J^T v = 2 x v
    (g,) = torch.autograd.grad(torch.sum(u), xg)
    torch.testing.assert_close(g, 2.0 * v)
