"""Denoising score-matching losses and the score / eps / x0 / v parameterization conversions."""

from .dsm import WEIGHTINGS, ddpm_loss, dsm_loss, smld_loss
from .parameterization import (
    eps_from_score,
    eps_from_v,
    eps_from_x0,
    score_from_eps,
    score_from_v,
    score_from_x0,
    v_from_eps_x0,
    x0_from_eps,
    x0_from_score,
    x0_from_v,
)
from .wrappers import denoiser_from_score, score_fn_from_denoiser, score_fn_from_eps, score_fn_from_v, score_fn_from_x0

__all__ = [
    "WEIGHTINGS",
    "ddpm_loss",
    "dsm_loss",
    "eps_from_score",
    "eps_from_v",
    "eps_from_x0",
    "denoiser_from_score",
    "score_fn_from_denoiser",
    "score_fn_from_eps",
    "score_fn_from_v",
    "score_fn_from_x0",
    "score_from_eps",
    "score_from_v",
    "score_from_x0",
    "smld_loss",
    "v_from_eps_x0",
    "x0_from_eps",
    "x0_from_score",
    "x0_from_v",
]
