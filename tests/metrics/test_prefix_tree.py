"""Tests of qgen.metrics.prefix_tree: all K^N log-probabilities of an autoregressive model against log_prob."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qgen.metrics.prefix_tree import _causal_walk, autoregressive_log_probabilities
from qgen.models import RNN, build
from qgen.strings import all_outcomes


def _brute_force(model) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model.log_prob(all_outcomes(model.n_outcomes, model.n_qubits)).double().numpy()


@pytest.mark.parametrize("name", ["rnn", "pixelcnn", "transformer"])
@pytest.mark.parametrize("n_qubits", [1, 2, 6])
def test_walks_are_log_prob_string_by_string(name, n_qubits):
    model = build(name, n_qubits=n_qubits, n_outcomes=4, seed=0)
    model.train()  # the walk evaluates without dropout and leaves the mode as it was
    table = autoregressive_log_probabilities(model)
    assert model.training
    brute = _brute_force(model)
    assert table.shape == (4**n_qubits,)
    # float32 sums in log_prob against float64 sums of the same conditionals
    np.testing.assert_allclose(table, brute, rtol=0, atol=2e-5)
    assert abs(np.exp(table).sum() - 1) < 1e-10
    causal = np.empty_like(table)
    with torch.no_grad():
        _causal_walk(model, 4, n_qubits, causal)
    np.testing.assert_allclose(causal, brute, rtol=0, atol=2e-5)


def test_three_outcomes_and_a_deep_tree():
    model = RNN(9, 3, hidden_size=8, n_layers=1)  # 3^6 prefixes in one batch, then three levels of branching
    np.testing.assert_allclose(autoregressive_log_probabilities(model), _brute_force(model), rtol=0, atol=2e-5)


class ListStateRNN(RNN):
    """A model whose sampling state grows in place (a list of tokens): it cannot be branched, so the cached
    walk's check against log_prob must catch it and fall back to the causal walk."""

    def begin(self, n):
        return []

    def step(self, token, state, site):
        state.append(token)
        return self.conditional_logits(torch.stack(state, dim=1))[:, -1], state


def test_a_state_that_cannot_be_branched_falls_back_to_the_causal_walk():
    model = ListStateRNN(7, 4, hidden_size=8, n_layers=1)  # 4^5 prefixes in one batch, then two levels of branching
    np.testing.assert_allclose(autoregressive_log_probabilities(model), _brute_force(model), rtol=0, atol=2e-5)
