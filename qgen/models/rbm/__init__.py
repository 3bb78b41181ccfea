"""Restricted Boltzmann machines: the categorical RBM on POVM outcomes, Gibbs sampling, AIS for log Z."""

from __future__ import annotations

from qgen.models.rbm.ais import ais_log_partition, ais_schedule
from qgen.models.rbm.categorical import CategoricalRBM
from qgen.models.rbm.energy import ENUMERATION_LIMIT, RBMEnergy
from qgen.models.rbm.gibbs import sample_chains

__all__ = ["CategoricalRBM", "RBMEnergy", "ENUMERATION_LIMIT", "ais_log_partition", "ais_schedule", "sample_chains"]
