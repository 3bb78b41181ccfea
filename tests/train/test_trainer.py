"""The training engine: convergence, early stopping, callbacks, checkpoints, resume, DDP on CPU."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from qgen.errors import OutcomeError, TrainingError
from qgen.models import build
from qgen.train.data import split
from qgen.train.trainer import Trainer
from tests.helpers import SITE_PROBS, product_samples


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small models train fastest on one thread; two threads spin against each other when the cores are busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# Per-site outcome probabilities of a product distribution over N = 4 sites, K = 4 symbols.
def exact_kl(model) -> float:
    """KL(target || model) by enumerating all K^N strings."""
    strings = torch.tensor(list(itertools.product(range(4), repeat=4)))
    log_target = torch.log(SITE_PROBS[torch.arange(4), strings]).sum(1)
    with torch.no_grad():
        log_model = model.log_prob(strings).double()
    return float((log_target.exp() * (log_target - log_model)).sum())


def small(name: str, seed: int = 0, **extra):
    hyper = {
        "rnn": {"hidden_size": 24, "n_layers": 1},
        "pixelcnn": {"channels": 16},
        "transformer": {"d_model": 16, "n_heads": 2, "n_layers": 1},
    }[name]
    return build(name, n_qubits=4, n_outcomes=4, seed=seed, **{**hyper, **extra})


def params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name", ["rnn", "transformer"])
def test_product_state_is_learnt_to_small_kl(name: str) -> None:
    data = product_samples(10_000)
    model = small(name)
    history = Trainer(model, lr=1e-2, batch_size=100, epochs=4, schedule="cosine", progress=False).fit(data)
    # Measured: about 0.003 for both models; the empirical distribution of the 9k training strings is 0.013
    # from the target (KL the other way round), so the models generalise past their data.
    assert exact_kl(model) < 0.01
    assert history["epoch"] == [1.0, 2.0, 3.0, 4.0]
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert model.history is history


def test_training_is_deterministic_under_a_seed() -> None:
    data = product_samples(2_000)
    runs = []
    for _ in range(2):
        model = small("transformer", dropout=0.1)
        Trainer(model, epochs=2, batch_size=100, seed=3, progress=False).fit(data)
        runs.append(params(model))
    assert all(a.equal(b) for a, b in zip(*runs))


class _Killed(Exception):
    pass


def _kill_after(epoch_to_die: int):
    def callback(trainer: Trainer, epoch: int) -> None:
        if epoch == epoch_to_die:
            raise _Killed

    return callback


@pytest.mark.parametrize("name", ["rnn", "transformer"])
def test_resume_after_interrupt_matches_uninterrupted_run(name: str, tmp_path: Path) -> None:
    data = product_samples(3_000)
    options = {"lr": 3e-3, "batch_size": 128, "epochs": 4, "schedule": "cosine", "seed": 5, "progress": False}
    extra = {"dropout": 0.1} if name == "transformer" else {}
    straight = small(name, **extra)
    straight_history = Trainer(straight, **options).fit(data)

    path = tmp_path / "run.ckpt"
    # Dies in epoch 3's callback, before that epoch's checkpoint: the file holds 2 epochs.
    with pytest.raises(_Killed):
        Trainer(small(name, **extra), checkpoint=path, callbacks=[_kill_after(3)], **options).fit(data)
    assert torch.load(path, weights_only=True)["epoch"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # atomic writes leave no temporary file

    resumed = Trainer.resume(path, progress=False)
    assert resumed.epoch == 0  # the state is loaded when fit starts
    resumed_history = resumed.fit(data)
    assert resumed.epoch == 4
    assert all(a.equal(b) for a, b in zip(params(straight), params(resumed.model)))
    for key in ("epoch", "train_loss", "val_loss", "lr"):
        assert resumed_history[key] == straight_history[key]

    # The same through fit(resume=True) on a Trainer built by hand.
    with pytest.raises(_Killed):
        Trainer(small(name, **extra), checkpoint=path, callbacks=[_kill_after(2)], **options).fit(data)
    again = small(name, **extra)
    Trainer(again, checkpoint=path, **options).fit(data, resume=True)
    assert all(a.equal(b) for a, b in zip(params(straight), params(again)))


def test_resume_refuses_other_data(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    Trainer(small("rnn"), epochs=1, batch_size=100, checkpoint=path, progress=False).fit(product_samples(500))
    with pytest.raises(TrainingError, match="data differ"):
        Trainer.resume(path, epochs=2, progress=False).fit(product_samples(500, seed=1))
    with pytest.raises(TrainingError, match="no such checkpoint"):
        Trainer.resume(tmp_path / "missing.ckpt")


def test_early_stopping_restores_best_weights() -> None:
    # 40 training strings and a large learning rate: the model overfits and the held-out NLL rises.
    data = product_samples(400)
    model = small("rnn", hidden_size=64)
    trainer = Trainer(
        model, lr=3e-2, batch_size=8, epochs=60, val_fraction=0.9, early_stopping_patience=3, progress=False
    )
    history = trainer.fit(data)
    assert len(history["val_loss"]) < 60
    best = min(history["val_loss"])
    assert history["val_loss"].index(best) == len(history["val_loss"]) - 4  # stopped 3 epochs after the best
    _, val = split(data, trainer.val_fraction, trainer.seed)
    assert trainer.evaluate(val) == pytest.approx(best, rel=1e-6)


def test_callbacks_are_recorded_and_can_stop_training() -> None:
    data = SimpleNamespace(outcomes=product_samples(600).numpy())  # anything with .outcomes

    def kl(trainer: Trainer, epoch: int) -> dict[str, float]:
        return {"kl": exact_kl(trainer.model)}

    def stop_at_two(trainer: Trainer, epoch: int) -> None:
        if epoch == 2:
            trainer.stop = True

    history = Trainer(small("rnn"), epochs=5, batch_size=64, callbacks=[kl, stop_at_two], progress=False).fit(data)
    assert len(history["kl"]) == len(history["train_loss"]) == 2
    assert all(value > 0 for value in history["kl"])


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (torch.zeros(10, 3, dtype=torch.long), OutcomeError),  # wrong N
        (torch.full((10, 4), 4, dtype=torch.long), OutcomeError),  # value K
        (torch.zeros(10, 4), OutcomeError),  # float
        (torch.zeros(0, 4, dtype=torch.long), TrainingError),  # empty
        ([[0, 1, 2, 3]], TrainingError),  # a list is not an array
    ],
)
def test_bad_data_raises_a_clear_error(data, error) -> None:
    with pytest.raises(error):
        Trainer(small("rnn"), progress=False).fit(data)


@pytest.mark.parametrize(
    "options",
    [{"lr": 0}, {"batch_size": 0}, {"epochs": 0}, {"optimizer": "lbfgs"}, {"schedule": "linear"}, {"val_fraction": 1}],
)
def test_bad_settings_raise_training_error(options) -> None:
    with pytest.raises(TrainingError):
        Trainer(small("rnn"), **options)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_DDP_SCRIPT = textwrap.dedent(
    """
    import os, sys, torch
    from qgen.models import build
    from qgen.train.trainer import Trainer
    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, 4, (1000, 4), generator=g)
    model = build("rnn", n_qubits=4, n_outcomes=4, hidden_size=16, n_layers=1, seed=0)
    # An odd batch size splits each batch 32/31 between the ranks: the loss weights must still give the
    # gradient of the global batch mean.
    trainer = Trainer(model, epochs=2, batch_size=63, seed=1, device="cpu", progress=False)
    history = trainer.fit(data)
    torch.save({"params": [p.detach() for p in model.parameters()], "history": history},
               os.path.join(sys.argv[1], f"rank{os.environ.get('RANK', 'single')}.pt"))
    """
)


def test_data_parallel_training_on_two_cpu_processes(tmp_path: Path) -> None:
    script = tmp_path / "ddp_train.py"
    script.write_text(_DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(key, None)
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1"]
    launch += ["--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script), str(tmp_path)]
    done = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    single = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-3000:]

    rank0, rank1, alone = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in ("0", "1", "single"))
    assert all(a.equal(b) for a, b in zip(rank0["params"], rank1["params"]))
    # Same global batches, so the same run as one process, up to the order of floating-point sums.
    for a, b in zip(rank0["params"], alone["params"]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        torch.tensor(rank0["history"]["val_loss"]), torch.tensor(alone["history"]["val_loss"]), rtol=1e-5, atol=0
    )


_KILLED_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, torch
    from qgen.models import build
    from qgen.train.trainer import Trainer
    data = torch.randint(0, 4, (600, 4), generator=torch.Generator().manual_seed(0))
    model = build("rnn", n_qubits=4, n_outcomes=4, hidden_size=8, n_layers=1, seed=0)
    def die(trainer, epoch):
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no exception handlers: a real kill
    Trainer(model, epochs=4, batch_size=50, checkpoint=sys.argv[1], callbacks=[die], progress=False).fit(data)
    """
)


def test_resume_after_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "killed.ckpt"
    done = subprocess.run([sys.executable, "-c", _KILLED_SCRIPT, str(path)], capture_output=True, text=True)
    assert done.returncode == -9, done.stderr[-2000:]
    assert [p.name for p in tmp_path.iterdir()] == ["killed.ckpt"]
    data = torch.randint(0, 4, (600, 4), generator=torch.Generator().manual_seed(0))
    trainer = Trainer.resume(path, progress=False)
    trainer.fit(data)
    straight = build("rnn", n_qubits=4, n_outcomes=4, hidden_size=8, n_layers=1, seed=0)
    Trainer(straight, epochs=4, batch_size=50, progress=False).fit(data)
    assert trainer.epoch == 4
    assert all(a.equal(b) for a, b in zip(params(straight), params(trainer.model)))


def test_progress_bar_shows_the_live_loss(capsys: pytest.CaptureFixture[str]) -> None:
    Trainer(small("rnn"), epochs=2, batch_size=100, progress=True).fit(product_samples(500))
    err = capsys.readouterr().err
    assert "loss=" in err and "val=" in err
    Trainer(small("rnn"), epochs=1, batch_size=100, progress=False).fit(product_samples(500))
    assert capsys.readouterr().err == ""


@pytest.mark.slow
# torch.compile's own import path uses torch.jit.script_method, which torch 2.13 deprecates.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compiled_training_matches_eager() -> None:
    data = product_samples(1_000)
    eager, compiled = small("transformer"), small("transformer")
    a = Trainer(eager, epochs=2, batch_size=100, device="cpu", progress=False).fit(data)
    b = Trainer(compiled, epochs=2, batch_size=100, device="cpu", compile=True, progress=False).fit(data)
    torch.testing.assert_close(torch.tensor(a["val_loss"]), torch.tensor(b["val_loss"]), rtol=1e-4, atol=0)
    for p, q in zip(params(eager), params(compiled)):
        # Adam divides by sqrt(v), so rounding differences in near-zero gradients move weights by ~1e-4.
        torch.testing.assert_close(p, q, rtol=1e-2, atol=1e-3)


def test_a_diverged_run_says_so_in_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    # lr 50 blows the RNN up: its best loss stays above the uniform model's 4 log 4
    trainer = Trainer(small("rnn"), lr=50.0, epochs=2, batch_size=100, clip_grad=None, progress="lines")
    trainer.fit(product_samples(500))
    message = trainer.diverged()
    assert "far above the uniform distribution's 5.545" in message
    assert f"WARNING: {message}" in capsys.readouterr().err
    healthy = Trainer(small("rnn"), lr=1e-2, epochs=2, batch_size=100, progress=False)
    healthy.fit(product_samples(500))
    assert healthy.diverged() == "" and "WARNING" not in healthy.summary()
