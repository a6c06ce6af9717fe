"""Analytic Gaussian and Gaussian-mixture oracles (placeholder)."""
