"""Standard normal draws for the stochastic samplers: from a refsde RNG or from explicit arrays.

Layouts of explicit ``noise`` (an array, or a sequence indexed the same way):

* ``sample_sde``: shape (n_steps, *x.shape); ``noise[k]`` drives step k.
* ``sample_pc``: shape (n_steps, 1 + M, *x.shape) with M the number of corrector steps (0 without a
  corrector); ``noise[k, 0]`` drives the predictor of step k and ``noise[k, 1 + j]`` its j-th corrector
  step, whatever the order.

With an RNG, one draw of x's shape is made per update, in the order the updates run (also for an
update whose noise is then dropped by ``last_step_noise=False``), so a seed fixes the whole path.
"""

from __future__ import annotations

from typing import Any, Sequence

from .._arrays import Array, check_finite, namespace_of


class NoiseSource:
    """``draw(k)`` / ``draw(k, j)``: the noise of update (k[, j]), an array like ``x``."""

    def __init__(self, x: Array, lead: tuple[int, ...], *, noise: Any = None, rng: Any = None) -> None:
        self._x = x
        self._lead = lead
        if noise is not None and rng is not None:
            raise ValueError("give either rng or noise, not both")
        self._noise = None if noise is None else self._check(noise)
        self._gen = None
        if noise is None:
            from ..backends import backend_of, make_rng

            self._gen = make_rng(rng, backend_of(x))

    def _check(self, noise: Any) -> Any:
        x, lead = self._x, self._lead
        expected = lead + tuple(x.shape)
        if isinstance(noise, (list, tuple)):
            return self._check_sequence(noise, expected)
        xp = namespace_of(x, noise)
        if tuple(noise.shape) != expected:
            raise ValueError(f"noise must have shape {expected} (see the layout), got {tuple(noise.shape)}")
        if not xp.isdtype(noise.dtype, "real floating"):
            raise ValueError(f"noise must be a real floating array, got dtype {noise.dtype}")
        check_finite(xp, noise, "noise")
        return noise if noise.dtype == x.dtype else xp.astype(noise, x.dtype)

    def _check_sequence(self, noise: Sequence[Any], expected: tuple[int, ...]) -> list[Any]:
        if len(noise) != expected[0]:
            raise ValueError(f"noise must have {expected[0]} entries (one per step), got {len(noise)}")
        out: list[Any] = []
        for item in noise:
            if isinstance(item, (list, tuple)) and len(expected) > len(self._x.shape) + 1:
                if len(item) != expected[1]:
                    raise ValueError(f"each noise entry must hold {expected[1]} draws, got {len(item)}")
                out.append([self._check_one(z, expected[2:]) for z in item])
            else:
                out.append(self._check_one(item, expected[1:]))
        return out

    def _check_one(self, z: Any, shape: tuple[int, ...]) -> Array:
        xp = namespace_of(self._x, z)
        if tuple(z.shape) != shape:
            raise ValueError(f"noise entries must have shape {shape}, got {tuple(z.shape)}")
        if not xp.isdtype(z.dtype, "real floating"):
            raise ValueError(f"noise must be a real floating array, got dtype {z.dtype}")
        check_finite(xp, z, "noise")
        return z if z.dtype == self._x.dtype else xp.astype(z, self._x.dtype)

    def draw(self, k: int, j: int | None = None) -> Array:
        if self._gen is not None:
            return self._gen.normal(tuple(self._x.shape), dtype=self._x.dtype)
        noise = self._noise
        if isinstance(noise, list):
            item = noise[k]
            if j is None:
                return item
            return item[j] if isinstance(item, list) else item[j, ...]
        return noise[k, ...] if j is None else noise[k, j, ...]
