"""Data sets: the MeasurementData container, its HDF5 file format, simulation of data from a target, importers."""

from __future__ import annotations

from qgen.data.dataset import BASIS_LETTERS, BasisSamplingWarning, MeasurementData
from qgen.data.importers import (
    import_density_matrix_text,
    import_outcomes,
    import_qucumber,
    import_state_vector_text,
)
from qgen.data.reader import load
from qgen.data.simulation import simulate, write_simulation
from qgen.data.vectors import VectorData, load_vectors, save_vectors
from qgen.data.writer import FORMAT_NAME, FORMAT_VERSION, NO_SEED, MeasurementWriter, save

__all__ = [
    "MeasurementData",
    "MeasurementWriter",
    "save",
    "load",
    "simulate",
    "write_simulation",
    "import_qucumber",
    "import_outcomes",
    "import_state_vector_text",
    "import_density_matrix_text",
    "BasisSamplingWarning",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "NO_SEED",
    "BASIS_LETTERS",
    "VectorData",
    "save_vectors",
    "load_vectors",
]
