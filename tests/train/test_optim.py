"""check_run_settings: the run's integer settings go through the one positive-integer check (qgen.strings)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from qgen.errors import TrainingError
from qgen.train.optim import check_run_settings

GOOD: dict[str, Any] = {
    "batch_size": 64,
    "epochs": 3,
    "seed": 0,
    "val_fraction": 0.1,
    "early_stopping_patience": None,
    "mode": "min",
    "monitor": None,
}


@pytest.mark.parametrize(
    "name, bad, message",
    [
        ("batch_size", 0, "batch_size must be an integer >= 1, got 0"),
        ("batch_size", 64.0, "batch_size must be an integer >= 1, got 64.0"),
        ("epochs", True, "epochs must be an integer >= 1, got True"),
        ("seed", -1, "seed must be an integer >= 0, got -1"),
        ("seed", "0", "seed must be an integer >= 0, got '0'"),
        ("early_stopping_patience", 0, r"early_stopping_patience \(or None\) must be an integer >= 1, got 0"),
    ],
)
def test_bad_integer_settings_are_refused_by_name(name: str, bad: Any, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        check_run_settings(**(GOOD | {name: bad}))


def test_numpy_integers_come_back_as_python_ints() -> None:
    numpy = {"batch_size": np.int64(32), "seed": np.uint8(7), "early_stopping_patience": 5}
    ints = check_run_settings(**(GOOD | numpy))
    assert ints == {"batch_size": 32, "epochs": 3, "seed": 7, "early_stopping_patience": 5}
    assert all(type(v) is int for v in ints.values())
    assert check_run_settings(**GOOD)["early_stopping_patience"] is None
