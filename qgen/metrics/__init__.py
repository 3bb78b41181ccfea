"""Metrics: distances between outcome distributions, observables and quantum fidelity, each an Estimate."""

from __future__ import annotations

from qgen.estimate import Estimate
from qgen.metrics.distances import AUTO_ENUMERATION, classical_fidelity, kl_divergence, reverse_kl
from qgen.metrics.distributions import EmpiricalDistribution, TabulatedDistribution, tabulate
from qgen.metrics.fidelity import project_to_physical, quantum_fidelity, uhlmann_fidelity
from qgen.metrics.observables import NOT_DETERMINED, correlation_matrix, expectation, magnetization
from qgen.metrics.positive import positive_state
from qgen.metrics.reconstruction import reconstruct_density_matrix

__all__ = [
    "Estimate",
    "EmpiricalDistribution",
    "TabulatedDistribution",
    "tabulate",
    "classical_fidelity",
    "kl_divergence",
    "reverse_kl",
    "expectation",
    "correlation_matrix",
    "magnetization",
    "quantum_fidelity",
    "project_to_physical",
    "uhlmann_fidelity",
    "positive_state",
    "reconstruct_density_matrix",
    "AUTO_ENUMERATION",
    "NOT_DETERMINED",
]
