"""Exact probability-flow ODE log-likelihoods, bits per dimension, encode/decode.

* :func:`log_likelihood`: log p(x) = log pi(x(T)) + integral_eps^T div F dt with exact (oracle or jvp)
  or Hutchinson divergences; :class:`LikelihoodInfo` reports the parts and the cost.
* :func:`bits_per_dim`, :func:`dequantize`, :func:`dequantized_bits_per_dim`: uniform dequantization
  with an explicit affine data scaling.
* :func:`encode` / :func:`decode`: x(eps) <-> x(T) through the probability-flow ODE.
* :func:`exact_trace`, :func:`hutchinson_estimates`, :func:`probability_flow_drift`: the building blocks.
"""

from .bits_per_dim import bits_per_dim, dequantize, dequantized_bits_per_dim
from .divergence import draw_probes, exact_trace, hutchinson_estimates
from .encode import decode, encode
from .flow import probability_flow_drift
from .info import LikelihoodInfo
from .log_likelihood import log_likelihood

__all__ = [
    "LikelihoodInfo",
    "bits_per_dim",
    "decode",
    "dequantize",
    "dequantized_bits_per_dim",
    "draw_probes",
    "encode",
    "exact_trace",
    "hutchinson_estimates",
    "log_likelihood",
    "probability_flow_drift",
]
