"""check_bits_per_dim: correct conversions pass (refsde's, and score_sde's offsets 7 / 8 bits written by hand),
each unit slip fails and is named.  The candidates' log p comes from refsde.likelihood.log_likelihood (judged
separately by check_log_likelihood); the conversion is what is under test here."""

from __future__ import annotations

import math

import pytest

import refsde
from refsde import testing as rt

VP = refsde.VPSDE()
EPS = 1e-3


def _logp(score_fn, y):
    from refsde.likelihood import log_likelihood

    return log_likelihood(score_fn, VP, y, eps=EPS, rtol=1e-6, atol=1e-6)[0]


def score_sde_bpd(offset_bits):
    """score_sde's run_lib: bpd = -log p / (D log 2) + offset (7 for data in [-1, 1], 8 for [0, 1])."""
    def bpd(score_fn, y):
        D = math.prod(y.shape[1:])
        return -_logp(score_fn, y) / (D * math.log(2.0)) + offset_bits

    return bpd


@pytest.mark.parametrize("scale, offset", [(2.0, 7.0), (1.0, 8.0)])
@pytest.mark.slow
def test_correct_conversions_pass(scale, offset):
    from refsde.likelihood import bits_per_dim

    mine = lambda s, y: bits_per_dim(_logp(s, y), math.prod(y.shape[1:]), scale=scale)  # noqa: E731
    assert rt.check_bits_per_dim(mine, VP, EPS, scale=scale).passed
    assert rt.check_bits_per_dim(score_sde_bpd(offset), VP, EPS, scale=scale).passed


SLIPS = {
    "no dequantization term": lambda s, y, D: -_logp(s, y) / (D * math.log(2.0)),
    "nats per dimension instead of bits": lambda s, y, D: -(_logp(s, y) + D * math.log(2 / 256)) / D,
    "bits of the whole sample": lambda s, y, D: -(_logp(s, y) + D * math.log(2 / 256)) / math.log(2.0),
    "the dequantization term with the wrong sign": lambda s, y, D: -(_logp(s, y) - D * math.log(2 / 256)) / (D * math.log(2.0)),
    "the offset of data in [0, 1]": lambda s, y, D: -_logp(s, y) / (D * math.log(2.0)) + 8.0,
}


@pytest.mark.parametrize("slip", list(SLIPS))
@pytest.mark.slow
def test_each_slip_is_named(slip):
    fn = SLIPS[slip]
    with pytest.raises(rt.ConformanceError) as info:
        rt.check_bits_per_dim(lambda s, y: fn(s, y, math.prod(y.shape[1:])), VP, EPS, scale=2.0)
    assert info.value.check == "check_bits_per_dim"
    assert info.value.cause.startswith("likely cause: " + slip), info.value.cause


def test_bad_arguments():
    with pytest.raises(ValueError, match="scale"):
        rt.check_bits_per_dim(score_sde_bpd(7.0), VP, EPS, scale=-2.0)
    with pytest.raises(ValueError, match="n_bins"):
        rt.check_bits_per_dim(score_sde_bpd(7.0), VP, EPS, scale=2.0, n_bins=1)
