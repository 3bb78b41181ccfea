"""Shared fixtures: random states, the reference data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# `make test` runs two pytest-xdist workers on two cores: one torch thread each avoids oversubscription.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

from tests.helpers import REFERENCE


@pytest.fixture
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE}")
    return REFERENCE
