"""GenerativeModel.evaluating: eval mode for a block, the previous mode restored afterwards, even on error."""

from __future__ import annotations

import pytest

from qgen.models.registry import build


@pytest.mark.parametrize("start_training", [True, False])
def test_evaluating_restores_the_mode_it_found(start_training: bool) -> None:
    model = build("gan", n_qubits=2, n_outcomes=3, seed=0, hidden_size=8)
    model.train(start_training)
    with model.evaluating():
        assert not model.training and not any(m.training for m in model.modules())
    assert model.training is start_training
    with pytest.raises(RuntimeError, match="inside"):
        with model.evaluating():
            raise RuntimeError("inside")
    assert model.training is start_training and all(m.training is start_training for m in model.modules())
