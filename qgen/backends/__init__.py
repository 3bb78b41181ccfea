"""Generic generative families behind the GenerativeModel interface, on vectors and on outcome strings."""

from __future__ import annotations

from qgen.backends.diffusion import Diffusion
from qgen.backends.ebm import EBM, GaussianBinaryRBM
from qgen.backends.flow import Flow
from qgen.backends.gan import GAN, WGANGP
from qgen.backends.kde import KDE
from qgen.backends.mixture import Mixture
from qgen.backends.mixture_kl import BinnedKLGaussians
from qgen.backends.vae import VAE

__all__ = [
    "GAN",
    "WGANGP",
    "VAE",
    "Diffusion",
    "Flow",
    "Mixture",
    "BinnedKLGaussians",
    "KDE",
    "EBM",
    "GaussianBinaryRBM",
]
