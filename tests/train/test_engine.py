"""The training engine carries every family shape: two groups in turn, explicit gradients, closed form, vectors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from qgen.errors import ModelError, TrainingError
from qgen.models import build, register
from qgen.models.base import Update
from qgen.train import Trainer
from tests.helpers import Interrupted, InterruptedTrainer, product_samples
from tests.train.toys import TOYS, support_of

REPO = Path(__file__).resolve().parents[2]

for _name, _cls in TOYS.items():
    register(_name, _cls)


def toy(name: str, seed: int = 0):
    support = support_of(name)
    if hasattr(support, "dim"):
        return build(name, dim=support.dim, seed=seed)
    return build(name, n_qubits=support.n_sites, n_outcomes=support.n_symbols, seed=seed)


def toy_data(name: str, n: int = 400) -> torch.Tensor:
    support = support_of(name)
    g = torch.Generator().manual_seed(7)
    if hasattr(support, "dim"):
        return torch.tensor([1.0, -0.5]) + 0.5 * torch.randn(n, support.dim, generator=g)
    return product_samples(n)[:, : support.n_sites] % support.n_symbols


def state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


OPTIONS = {"epochs": 4, "batch_size": 64, "lr": 0.05, "progress": False, "seed": 3}


def test_two_groups_in_turn_reach_the_fixed_point() -> None:
    data = toy_data("toy-two-player", 2000)
    model = toy("toy-two-player")
    trainer = Trainer(model, epochs=30, batch_size=200, lr=0.05, val_fraction=0, progress=False)
    history = trainer.fit(data)
    assert sorted(trainer.optimizers) == ["critic", "generator"]
    # two critic steps and one generator step per batch, each an optimizer step
    assert trainer.step_count == 3 * 30 * 10
    torch.testing.assert_close(model.mu.detach(), data.mean(0), atol=0.05, rtol=0)
    assert abs(model.w.detach()).max() < 0.05
    assert {"train_critic", "train_generator"} <= set(history)


def test_explicit_gradients_reach_the_empirical_marginals() -> None:
    data = toy_data("toy-explicit-gradients", 3000)
    model = toy("toy-explicit-gradients")
    # full batches: the optimum is exactly the empirical marginals
    Trainer(
        model, epochs=300, batch_size=3000, lr=0.05, val_fraction=0, early_stopping_patience=None, progress=False
    ).fit(data)
    freq = torch.nn.functional.one_hot(data.long(), 3).double().mean(0)
    torch.testing.assert_close(model.log_probs().exp().double(), freq, atol=1e-3, rtol=0)


def test_closed_form_counts_every_string_once_per_epoch() -> None:
    data = toy_data("toy-closed-form", 500)
    model = toy("toy-closed-form")
    trainer = Trainer(model, epochs=1, batch_size=64, val_fraction=0, progress=False)
    history = trainer.fit(data)
    assert trainer.optimizers == {} and trainer.step_count == 0
    counts = np.stack([np.bincount(data[:, i].numpy(), minlength=3) for i in range(3)])
    np.testing.assert_array_equal(model.counts.numpy(), counts)
    expected = np.log((counts + 1) / (counts.sum(1, keepdims=True) + 3))
    np.testing.assert_allclose(model.log_probs().numpy(), expected, rtol=1e-12)
    assert len(history["train_loss"]) == 1


def test_gaussian_on_vectors_is_fitted_by_maximum_likelihood() -> None:
    data = toy_data("toy-gaussian", 4000)
    model = toy("toy-gaussian")
    Trainer(model, epochs=40, batch_size=500, lr=0.05, val_fraction=0.1, progress=False).fit(data)
    torch.testing.assert_close(model.mean.detach(), data.mean(0), atol=0.03, rtol=0)
    torch.testing.assert_close(model.log_std.exp().detach(), data.std(0), atol=0.03, rtol=0)


@pytest.mark.parametrize("name", sorted(TOYS))
def test_resume_after_interruption_is_bit_exact(name: str, tmp_path: Path) -> None:
    data = toy_data(name)
    straight = toy(name)
    straight_history = Trainer(straight, **OPTIONS).fit(data)
    path = tmp_path / "run.ckpt"
    with pytest.raises(Interrupted):
        InterruptedTrainer(toy(name), checkpoint=path, interrupt_after=2, **OPTIONS).fit(data)
    resumed = Trainer.resume(path, progress=False)
    history = resumed.fit(data)
    assert resumed.epoch == 4
    for key, value in state(straight).items():
        assert torch.equal(value, state(resumed.model)[key]), key
    for key in straight_history:
        if key != "time":
            np.testing.assert_array_equal(history[key], straight_history[key], err_msg=key)


def test_resume_refuses_changed_settings(tmp_path: Path) -> None:
    data = toy_data("toy-explicit-gradients")
    path = tmp_path / "run.ckpt"
    Trainer(toy("toy-explicit-gradients"), checkpoint=path, **{**OPTIONS, "epochs": 1}).fit(data)
    with pytest.raises(TrainingError, match=r"lr: checkpoint 0\.05, now 0\.1"):
        Trainer(toy("toy-explicit-gradients"), checkpoint=path, **{**OPTIONS, "lr": 0.1}).fit(data, resume=True)
    with pytest.raises(TrainingError, match="batch_size"):
        Trainer.resume(path, batch_size=32)
    # more epochs is a deliberate, allowed change
    trainer = Trainer(toy("toy-explicit-gradients"), checkpoint=path, **{**OPTIONS, "epochs": 2})
    trainer.fit(data, resume=True)
    assert trainer.epoch == 2


def test_group_options_override_the_trainer_and_bad_ones_are_named() -> None:
    trainer = Trainer(toy("toy-two-player"), group_options={"critic": {"lr": 0.5, "betas": (0.5, 0.9)}}, lr=0.01)
    assert trainer.optimizers["critic"].param_groups[0]["lr"] == 0.5
    assert trainer.optimizers["critic"].param_groups[0]["betas"] == (0.5, 0.9)
    assert trainer.optimizers["generator"].param_groups[0]["lr"] == 0.01
    with pytest.raises(TrainingError, match="groups are"):
        Trainer(toy("toy-two-player"), group_options={"discriminator": {"lr": 0.5}})
    with pytest.raises(TrainingError, match="unknown option"):
        Trainer(toy("toy-two-player"), group_options={"critic": {"learning_rate": 0.5}})
    with pytest.raises(TrainingError, match="lr must be"):
        Trainer(toy("toy-two-player"), group_options={"critic": {"lr": -1}})


def test_update_needs_exactly_one_way_to_apply() -> None:
    with pytest.raises(ModelError, match="exactly one"):
        Update("model")
    with pytest.raises(ModelError, match="exactly one"):
        Update("model", loss=torch.tensor(0.0), grads=[torch.zeros(1)])
    with pytest.raises(ModelError, match="cannot carry"):
        Update(None, loss=torch.tensor(0.0))


def test_early_stopping_on_a_callback_column_with_mode_max() -> None:
    scores = iter([0.1, 0.5, 0.4, 0.3, 0.2, 0.9])

    def score(trainer: Trainer, epoch: int) -> dict[str, float]:
        return {"score": next(scores)}

    model = toy("toy-explicit-gradients")
    trainer = Trainer(
        model, epochs=6, batch_size=64, monitor="score", mode="max", early_stopping_patience=3, callbacks=[score]
    )
    trainer.progress = False
    history = trainer.fit(toy_data("toy-explicit-gradients"))
    assert history["score"] == [0.1, 0.5, 0.4, 0.3, 0.2] and trainer.best_value == 0.5
    with pytest.raises(TrainingError, match="mode"):
        Trainer(model, mode="largest")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_SCRIPT = textwrap.dedent(
    """
    import os, sys, torch
    from qgen.models import register
    from qgen.train import Trainer
    from tests.train.test_engine import toy, toy_data, OPTIONS
    from tests.train.toys import TOYS
    out = {}
    for name in sorted(TOYS):
        model = toy(name)
        # an odd global batch splits 32/31 between two ranks: the weights must still give the global step.
        # SGD, not Adam: Adam divides by sqrt(v), so a gradient that is zero up to rounding (an exactly
        # balanced batch) becomes a full step whose sign is the rounding's, and the runs drift apart.
        options = {**OPTIONS, "batch_size": 63, "optimizer": "sgd"}
        history = Trainer(model, **options, device="cpu").fit(toy_data(name))
        out[name] = {"state": {k: v.detach() for k, v in model.state_dict().items()}, "history": history}
    torch.save(out, os.path.join(sys.argv[1], f"rank{os.environ.get('RANK', 'single')}.pt"))
    """
)


def test_every_toy_under_torchrun_matches_one_process(tmp_path: Path) -> None:
    script = tmp_path / "train_toys.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(REPO)}
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(key, None)
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1"]
    launch += ["--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script), str(tmp_path)]
    done = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    single = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True, cwd=REPO
    )
    assert single.returncode == 0, single.stderr[-3000:]
    rank0, rank1, alone = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in ("0", "1", "single"))
    for name in TOYS:
        for key, value in rank0[name]["state"].items():
            assert torch.equal(value, rank1[name]["state"][key]), (name, key)
            # the same global batches: the same run as one process, up to the order of floating-point sums
            torch.testing.assert_close(value, alone[name]["state"][key], rtol=1e-5, atol=1e-6, msg=f"{name} {key}")
        for key in alone[name]["history"]:
            if key.startswith("val_"):
                np.testing.assert_allclose(rank0[name]["history"][key], alone[name]["history"][key], rtol=1e-5)
