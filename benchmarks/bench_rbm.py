"""RBM reconstructions side by side with the RNN: classical fidelity and training time, exact where enumerable.

Three tables:
  - GHZ N = 6 measured with the tetrahedral POVM, 10^4 samples (seed 0): the categorical RBM ("rbm", PCD-k)
    and the RNN (GRU), each trained for the same number of epochs with Adam, batch 128. Classical fidelity
    sum_a sqrt(p(a) q(a)) over all 4^6 strings, exact for both (the RBM's log Z by enumerating its hidden
    layer); training time, and the RBM/RNN time ratio measured in the same run.
  - QuCumber's TFIM N = 10 Z-basis data (10^4 shots, tfim1d_data.txt, exact psi in tfim1d_psi.txt), side by
    side in one run, each for --tfim-seeds seeds, Adam (lr 1e-2, RNN 3e-3) with a cosine schedule, batch 100:
    qgen's positive wavefunction RBM ("rbm-positive", 10 hidden units as QuCumber's tutorial, exact gradient by
    enumeration), NetKet's QSR driver (netket.experimental.QSR, nk.models.RBM with 10 hidden units, FullSumState
    so its negative phase is exact too) and qgen's RNN through qgen.metrics.positive_state (psi = sqrt(p)):
    quantum fidelity |<psi|psi_model>|^2 at the last epoch and its minimum over the last 10, <X_5>, training
    wall time (NetKet's includes its JIT compilation). QuCumber is not installed: its tutorial's 0.9898 after
    500 epochs is quoted as its own report.

  - A Bell state under local depolarizing noise p in {0, 0.1, 0.2} (the paper's Fig. 2 setting), pauli4, 10^4
    samples: the categorical RBM (exact gradient) and the RNN; classical fidelity to the exact noisy outcome
    distribution and quantum fidelity of the reconstructed rho to the exact noisy state (qgen.metrics, exact).

The N = 10 scan (categorical RBM, RNN and Transformer on GHZ and the TFIM, samples and time to classical fidelity
0.99) is benchmarks/bench_rbm_scan.py.

Every model trains through qgen.train.Trainer (no validation split, no early stopping, fixed epochs). Times
are wall seconds and CPU seconds of this process (all its threads; the machine is shared, so CPU time is the
steadier figure). Rows are also written as JSON (--output, default benchmarks/results/rbm_<table>.json).

Usage:
    .venv/bin/python benchmarks/bench_rbm.py [--threads 1] [--epochs 30] [--tfim-epochs 100] [--bell-epochs 30]
        [--tfim-seeds 3] [--tfim-seed-list 1 2] [--tfim-models rbm netket rnn] [--only ghz|tfim|bell]
        [--output PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import qgen
from qgen import metrics, noise, states
from qgen.models import build
from qgen.report.evaluation import write_json
from qgen.strings import all_outcomes
from qgen.train import Trainer

__all__ = ["main"]

QUCUMBER = Path(__file__).resolve().parents[2] / "shared" / "reference-data" / "qucumber"
RESULTS = Path(__file__).resolve().parent / "results"
TFIM_MODELS = ("rbm", "netket", "rnn")


def fit(
    model,
    x: torch.Tensor,
    *,
    epochs: int,
    batch: int,
    lr: float,
    optimizer: str = "adam",
    each_epoch=None,
    **options,
) -> tuple[float, float]:
    """Train through qgen.train.Trainer for `epochs`; (wall, CPU) seconds of training, callbacks excluded."""
    spent = [0.0]
    cpu_start = time.process_time()

    def callback(trainer, epoch: int) -> None:
        spent[0] = trainer.history["time"][-1] - sum(extra)
        start, cpu = time.perf_counter(), time.process_time()
        if each_epoch is not None:
            each_epoch(epoch - 1, spent[0])
        extra.append(time.perf_counter() - start)
        extra_cpu.append(time.process_time() - cpu)

    extra: list[float] = []
    extra_cpu: list[float] = []
    Trainer(
        model,
        lr=lr,
        batch_size=batch,
        epochs=epochs,
        optimizer=optimizer,
        val_fraction=0.0,
        early_stopping_patience=None,
        monitor="none",
        clip_grad=None,
        progress=False,
        device="cpu",
        callbacks=[callback],
        **options,
    ).fit(x)
    return spent[0], time.process_time() - cpu_start - sum(extra_cpu)


def ghz_table(epochs: int) -> list[dict]:
    n, n_samples = 6, 10_000
    target = states.ghz(n).measured("tetra")
    data = qgen.simulate(states.ghz(n), "tetra", n_samples, seed=0)
    x = torch.as_tensor(data.outcomes.astype(np.int64))
    strings = all_outcomes(4, n)
    p = target.probabilities().double()
    print(f"GHZ N = {n}, tetra, {n_samples} samples, {epochs} epochs, batch 128, Adam")
    print(f"{'model':34s} {'params':>7s} {'F_classical':>12s} {'time (s)':>9s} {'CPU (s)':>8s} {'samples/s':>10s}")
    times, rows = {}, []
    for label, name, options, lr in (
        ("rbm (PCD-10, 32 hidden)", "rbm", {"n_hidden": 32, "k": 10, "gradient": "pcd"}, 1e-2),
        ("rbm (exact gradient, 32 hidden)", "rbm", {"n_hidden": 32, "gradient": "exact"}, 1e-2),
        ("rnn (gru 2x32)", "rnn", {"n_layers": 2, "hidden_size": 32}, 3e-3),
    ):
        model = build(name, n_qubits=n, n_outcomes=4, seed=0, **options)
        seconds, cpu = fit(model, x, epochs=epochs, batch=128, lr=lr)
        with torch.no_grad():
            log_q = model.log_prob(strings).double() - model.log_normalizer().value
        fidelity = float(torch.sqrt(p * log_q.exp()).sum())
        params = sum(t.numel() for t in model.parameters())
        times[label] = seconds, cpu
        print(
            f"{label:34s} {params:7d} {fidelity:12.5f} {seconds:9.2f} {cpu:8.2f} {epochs * n_samples / seconds:10.0f}"
        )
        rows.append({"model": label, "params": params, "classical_fidelity": fidelity, "wall_s": seconds, "cpu_s": cpu})
    rnn = times["rnn (gru 2x32)"]
    for row in rows:
        row["wall_ratio_to_rnn"], row["cpu_ratio_to_rnn"] = row["wall_s"] / rnn[0], row["cpu_s"] / rnn[1]
        print(
            f"  time ratio {row['model']} / rnn: wall {row['wall_ratio_to_rnn']:.2f}, CPU {row['cpu_ratio_to_rnn']:.2f}"
        )
    return rows


def tfim_target():
    """QuCumber's TFIM N = 10 data (bits, int64) and its exact state (DenseState)."""
    from qgen.data import import_qucumber
    from qgen.data.importers import import_state_vector_text
    from qgen.states.dense import DenseState

    data = import_qucumber(QUCUMBER / "tfim1d_data.txt")
    target = DenseState.normalized(import_state_vector_text(QUCUMBER / "tfim1d_psi.txt"))
    return torch.as_tensor(data.outcomes.astype(np.int64)), target


def fit_qgen_positive(name: str, options: dict, x, target, *, epochs: int, seed: int, lr: float) -> dict:
    """A qgen model on the Z-basis shots, Adam with a cosine schedule, batch 100; its state's fidelity per epoch."""
    from qgen.metrics.positive import positive_state

    model = build(name, n_qubits=10, n_outcomes=2, seed=seed, **options)
    as_state = model.as_state if hasattr(model, "as_state") else lambda: positive_state(model)
    fidelities: list[float] = []

    def each_epoch(epoch: int, spent: float) -> None:
        fidelities.append(as_state().fidelity(target))

    trainer_options = {"schedule": "cosine", "seed": seed}
    seconds, cpu = fit(model, x, epochs=epochs, batch=100, lr=lr, each_epoch=each_epoch, **trainer_options)
    params = sum(t.numel() for t in model.parameters())
    x5 = as_state().expectation("IIIIIXIIII")
    return {"fidelities": fidelities, "seconds": seconds, "cpu": cpu, "x5": x5, "params": params}


def fit_netket_qsr(x, target, *, epochs: int, seed: int, lr: float, n_hidden: int) -> dict:
    """NetKet's QSR driver on the same shots: RBM (n_hidden), exact negative phase, Adam + cosine, batch 100."""
    import jax
    import netket as nk
    import netket.experimental as nkx
    import optax

    jax.config.update("jax_enable_x64", False)
    n = x.shape[1]
    # NetKet's Spin(0.5) local states are (+1, -1): bit 0 (|0>, Z = +1) is +1. Only the basis order of the
    # fidelity below depends on this map, and it is built with the same map.
    spins = np.where(x.numpy() == 0, 1.0, -1.0)
    hilbert = nk.hilbert.Spin(0.5, N=n)
    state = nk.vqs.FullSumState(hilbert, nk.models.RBM(alpha=n_hidden / n, param_dtype=float), seed=seed)
    steps = len(x) // 100
    optimizer = optax.adam(optax.cosine_decay_schedule(lr, epochs * steps))
    driver = nkx.QSR((spins, ["Z" * n] * len(x)), 100, optimizer, variational_state=state, seed=seed)
    bits = (np.arange(2**n)[:, None] >> np.arange(n - 1, -1, -1)) & 1
    all_spins = np.where(bits == 0, 1.0, -1.0)
    psi_target = target.vector

    def vector() -> np.ndarray:
        log_psi = np.asarray(state.log_value(all_spins))
        psi = np.exp(log_psi - log_psi.real.max())
        return psi / np.linalg.norm(psi)

    fidelities, seconds, cpu = [], 0.0, 0.0
    for _ in range(epochs):
        start, cpu_start = time.perf_counter(), time.process_time()
        driver.run(n_iter=steps, show_progress=False)
        jax.block_until_ready(state.parameters)
        seconds += time.perf_counter() - start
        cpu += time.process_time() - cpu_start
        fidelities.append(float(abs(np.vdot(psi_target, vector().astype(np.complex128))) ** 2))
    from qgen.states.dense import DenseState

    x5 = DenseState.normalized(vector().astype(np.complex128)).expectation("IIIIIXIIII")
    return {"fidelities": fidelities, "seconds": seconds, "cpu": cpu, "x5": x5, "params": state.n_parameters}


def tfim_table(epochs: int, seeds: list[int], models: list[str]) -> list[dict]:
    x, target = tfim_target()
    x_exact = target.expectation("IIIIIXIIII")
    print(
        f"QuCumber TFIM N = 10, {len(x)} Z-basis shots, {epochs} epochs, batch 100, Adam + cosine schedule, "
        f"seeds {seeds}; quantum fidelity |<psi|psi_model>|^2, exact <X_5> = {x_exact:.5f}"
    )
    print(
        f"{'model':44s} {'seed':>4s} {'F final':>8s} {'F min last 10':>13s} {'<X_5>':>8s} {'time (s)':>9s} "
        f"{'CPU (s)':>8s}"
    )
    runs = {
        "rbm": lambda s: fit_qgen_positive("rbm-positive", {"n_hidden": 10}, x, target, epochs=epochs, seed=s, lr=1e-2),
        "netket": lambda s: fit_netket_qsr(x, target, epochs=epochs, seed=s, lr=1e-2, n_hidden=10),
        "rnn": lambda s: fit_qgen_positive(
            "rnn", {"n_layers": 1, "hidden_size": 32}, x, target, epochs=epochs, seed=s, lr=3e-3
        ),
    }
    labels = {
        "rbm": "qgen rbm-positive (10 hidden, exact gradient)",
        "netket": "netket QSR (RBM 10 hidden, FullSumState)",
        "rnn": "qgen rnn (GRU 1x32) -> positive_state",
    }
    rows = []
    for name in models:
        for seed in seeds:
            r = runs[name](seed)
            f, label = r["fidelities"], labels[name]
            print(
                f"{label:44s} {seed:4d} {f[-1]:8.5f} {min(f[-10:]):13.5f} {r['x5']:8.5f} {r['seconds']:9.1f} "
                f"{r['cpu']:8.1f}"
            )
            sys.stdout.flush()
            rows.append({"model": label, "seed": seed, "epochs": epochs, "x5_exact": x_exact, **r})
    print("QuCumber (not run here; its tutorial's own report): fidelity 0.9898, KL 0.0205 after 500 epochs")
    return rows


def noisy_bell(p: float):
    """The exact Bell state after local depolarizing noise p on each qubit, as a DenseState."""
    from qgen.states.dense import DenseState

    kraus = noise.depolarizing(p).kraus
    rho = states.ghz(2).density_matrix
    pairs = [np.kron(a, b) for a in kraus for b in kraus]
    return DenseState(density_matrix=sum(k @ rho @ k.conj().T for k in pairs))


def bell_table(epochs: int) -> list[dict]:
    n_samples = 10_000
    print(f"Bell state, local depolarizing noise, pauli4, {n_samples} samples, {epochs} epochs, batch 128, Adam")
    print(f"{'p':>4s} {'model':28s} {'F_classical':>12s} {'F_quantum':>10s} {'time (s)':>9s} {'CPU (s)':>8s}")
    times: dict[str, float] = {}
    rows = []
    for p in (0.0, 0.1, 0.2):
        channel = noise.depolarizing(p) if p > 0 else None
        data = qgen.simulate(states.ghz(2), "pauli4", n_samples, noise=channel, seed=0)
        target = states.ghz(2).measured("pauli4", channel)
        exact_state = noisy_bell(p) if p > 0 else states.ghz(2)
        x = torch.as_tensor(data.outcomes.astype(np.int64))
        for label, name, options, lr in (
            ("rbm (exact gradient, 8 hidden)", "rbm", {"n_hidden": 8, "gradient": "exact"}, 1e-2),
            ("rnn (gru 1x32)", "rnn", {"n_layers": 1, "hidden_size": 32}, 3e-3),
        ):
            model = build(name, n_qubits=2, n_outcomes=4, seed=0, **options)
            seconds, cpu = fit(model, x, epochs=epochs, batch=128, lr=lr)
            fc = metrics.classical_fidelity(target, model, method="exact").value
            fq = metrics.quantum_fidelity(model, exact_state, povm="pauli4", method="exact").value
            times[label] = times.get(label, 0.0) + seconds
            print(f"{p:4.1f} {label:28s} {fc:12.5f} {fq:10.5f} {seconds:9.2f} {cpu:8.2f}")
            rows.append(
                {
                    "p": p,
                    "model": label,
                    "classical_fidelity": fc,
                    "quantum_fidelity": fq,
                    "wall_s": seconds,
                    "cpu_s": cpu,
                }
            )
    rnn = times["rnn (gru 1x32)"]
    for label, seconds in times.items():
        print(f"  time ratio {label} / rnn (all three p): {seconds / rnn:.2f}")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=30, help="GHZ table epochs")
    parser.add_argument("--tfim-epochs", type=int, default=100)
    parser.add_argument("--tfim-seeds", type=int, default=3, help="seeds 0..n-1")
    parser.add_argument("--tfim-seed-list", type=int, nargs="+", default=None, help="these seeds instead")
    parser.add_argument("--tfim-models", nargs="+", choices=TFIM_MODELS, default=list(TFIM_MODELS))
    parser.add_argument("--bell-epochs", type=int, default=30)
    parser.add_argument("--only", choices=("ghz", "tfim", "bell"), default=None)
    parser.add_argument("--output", type=Path, default=None, help="JSON file (default results/rbm_<only>.json)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = "benchmarks/bench_rbm.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"torch threads: {torch.get_num_threads()}  (python {sys.version.split()[0]}, torch {torch.__version__})")
    print("command: .venv/bin/python " + command)
    tables: dict[str, list[dict]] = {}
    if args.only in (None, "ghz"):
        tables["ghz"] = ghz_table(args.epochs)
    if args.only in (None, "bell"):
        tables["bell"] = bell_table(args.bell_epochs)
    if args.only in (None, "tfim"):
        if not QUCUMBER.is_dir():
            print(f"QuCumber data not found at {QUCUMBER}: TFIM table skipped")
        else:
            seeds = args.tfim_seed_list if args.tfim_seed_list is not None else list(range(args.tfim_seeds))
            tables["tfim"] = tfim_table(args.tfim_epochs, seeds, args.tfim_models)
    output = args.output or RESULTS / f"rbm_{args.only or 'all'}.json"
    meta = {"command": command, "torch_threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d %H:%M")}
    write_json({**meta, "tables": tables}, output)
    print(f"written: {output}")


if __name__ == "__main__":
    main()
