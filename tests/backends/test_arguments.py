"""The backends' integer arguments go through the one positive-integer check (qgen.strings.positive_int)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from qgen.errors import ModelError
from qgen.models.registry import build

# (registry name, support, argument, its smallest allowed value); every one refuses floats, bools and values below.
CASES = [
    ("gan", "strings", "latent_dim", 1),
    ("gan", "strings", "n_critic", 1),
    ("vae", "strings", "n_layers", 0),
    ("vae", "strings", "bound_samples", 1),
    ("diffusion", "strings", "n_steps", 2),
    ("flow", "vectors", "bins", 1),
    ("ebm", "vectors", "langevin_steps", 1),
    ("gb-rbm", "vectors", "n_hidden", 1),
    ("mixture", "vectors", "n_components", 1),
    ("kde", "vectors", "max_points (or None)", 1),
]


def _build(name: str, support: str, **options):
    where = {"n_qubits": 3, "n_outcomes": 4} if support == "strings" else {"dim": 2}
    return build(name, seed=0, **where, **options)


@pytest.mark.parametrize("name, support, argument, minimum", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_bad_integers_are_refused_naming_the_argument(name: str, support: str, argument: str, minimum: int) -> None:
    keyword = argument.split()[0]
    for bad in (minimum - 1, float(minimum + 1), True):
        with pytest.raises(ModelError, match=re.escape(f"{argument} must be an integer >= {minimum}, got {bad!r}")):
            _build(name, support, **{keyword: bad})


def test_numpy_integers_are_accepted_and_stored_as_python_ints() -> None:
    model = _build("mixture", "vectors", n_components=np.int64(3))
    assert type(model.hyperparameters["n_components"]) is int
    assert json.loads(json.dumps(model.config))["n_components"] == 3


@pytest.mark.parametrize("name, support", [("gan", "strings"), ("kde", "vectors"), ("ebm", "vectors")])
def test_sample_sizes_are_integers_at_least_zero(name: str, support: str) -> None:
    model = _build(name, support)
    for bad in (-1, 2.0):
        with pytest.raises(ModelError, match="must be an integer >= 0"):
            model.sample(bad)
