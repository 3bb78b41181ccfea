"""Generic generative families behind the GenerativeModel interface, on vectors and on outcome strings."""

from __future__ import annotations

from qgen.backends.diffusion import Diffusion
from qgen.backends.gan import GAN, WGANGP
from qgen.backends.vae import VAE

__all__ = ["GAN", "WGANGP", "VAE", "Diffusion"]
