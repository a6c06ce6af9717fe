"""Exact probability-flow ODE log-likelihoods, bits per dimension, encode/decode."""
