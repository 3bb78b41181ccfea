"""Shared fixtures: one torch thread, the reference data folder (skipped locally, required under CI=true)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

# `make test` runs two pytest-xdist workers on two cores: one torch thread each avoids oversubscription.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

from tests.helpers import REFERENCE, require_reference


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run the test on one torch thread, restoring the count after.

    Small models train fastest on one thread, and two threads spin against each other when the cores are
    busy. A module opts in with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def reference_dir() -> Path:
    """The shared reference data folder (../shared/reference-data): skip where missing, fail under CI=true."""
    return require_reference(REFERENCE)


def pytest_runtest_setup(item: pytest.Item) -> None:
    # `@pytest.mark.reference(path)`: the test reads `path`; missing, it is skipped, or failed under CI=true.
    for marker in item.iter_markers("reference"):
        require_reference(Path(marker.args[0]))
