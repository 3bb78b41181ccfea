"""Restricted Boltzmann machines: categorical (POVM outcomes), wavefunction and density matrix (Pauli shots)."""

from __future__ import annotations

from qgen.models.rbm.ais import ais_log_partition, ais_schedule
from qgen.models.rbm.categorical import CategoricalRBM
from qgen.models.rbm.density import DensityRBM
from qgen.models.rbm.energy import ENUMERATION_LIMIT, RBMEnergy
from qgen.models.rbm.gibbs import sample_chains
from qgen.models.rbm.wavefunction import ComplexRBM, PositiveRBM

__all__ = [
    "CategoricalRBM",
    "PositiveRBM",
    "ComplexRBM",
    "DensityRBM",
    "RBMEnergy",
    "ENUMERATION_LIMIT",
    "ais_log_partition",
    "ais_schedule",
    "sample_chains",
]
