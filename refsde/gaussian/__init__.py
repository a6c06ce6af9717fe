"""Analytic Gaussian and Gaussian-mixture oracles for score-based diffusion SDEs.

For data N(m, C) (or a mixture of such) and a linear SDE with q(x_t | x_0) = N(alpha_t x_0, sigma_t^2 I),
every marginal p_t is again Gaussian (a mixture), so densities, scores, score Hessians and, for a single
Gaussian, the probability-flow map are known in closed form.  Everything is written against the Array
API: results have the caller's namespace, dtype and device.

>>> import numpy as np, refsde
>>> from refsde.gaussian import Gaussian
>>> g = Gaussian(np.zeros(2), np.eye(2))
>>> score = g.score_fn(refsde.VPSDE())
>>> score(np.ones((3, 2)), 0.5).shape
(3, 2)
"""

from .gaussian import Gaussian
from .mixture import GaussianMixture
from .score import ExactScore

__all__ = ["ExactScore", "Gaussian", "GaussianMixture"]
