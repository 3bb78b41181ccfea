"""The figures `qgen reproduce` knows: name -> module, what it shows, how long it takes; and the one writer.

Each figure module has `run(quick, seed, log) -> (Figure, numbers, settings)`; `reproduce` runs one and writes
NAME.png, and NAME.json holding the plotted numbers, the settings, the command that reproduces it and the time it
took. Modules are imported on first use, so `qgen reproduce --list` stays fast.
"""

from __future__ import annotations

import importlib
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qgen.errors import QgenError

__all__ = ["FigureEntry", "FIGURES", "MISSING", "reproduce", "figure_entry"]


@dataclass(frozen=True)
class FigureEntry:
    """A reproducible figure: its name, what it shows, where its code lives, and its measured run times."""

    name: str
    title: str
    module: str
    quick: str
    full: str


FIGURES: dict[str, FigureEntry] = {
    e.name: e
    for e in (
        FigureEntry(
            "paper-fig2",
            "Bell state under local depolarizing noise: classical and quantum fidelity of the RNN and RBM "
            "reconstructions against the exact noisy state, versus noise strength and training progress; rho "
            "reconstructed vs exact",
            "qgen.reproduce.paper_fig2",
            quick="51 s on one thread with the RBM beside the RNN (measured)",
            full="523 s of CPU on one thread, 24 min wall at load average 2-9 (measured 2026-12-01)",
        ),
        FigureEntry(
            "paper-fig3",
            "GHZ sample complexity: training samples to classical fidelity 0.99 versus N, tetra and Pauli-4, "
            "qgen's GRU beside the paper's RNN",
            "qgen.reproduce.paper_fig3",
            quick="130 s on one thread (N = 4, 8; measured)",
            full="683 s of CPU on one thread, 18 min wall at load average 4 (N = 10..80, both POVMs; measured "
            "2026-12-01)",
        ),
        FigureEntry(
            "paper-fig4",
            "50-site critical Ising chain from the paper's MPS (converted to qgen's signs) and qgen's DMRG: "
            "<Z_i Z_j> versus distance and <X_i>, model versus exact versus raw data; the 8 x 8 Heisenberg "
            "antiferromagnet (DMRG snake MPS): <Z_0 Z_j> and E/N, model versus DMRG target versus raw data, and the "
            "DMRG target against quantum Monte Carlo (SSE) of the same lattice",
            "qgen.reproduce.paper_fig4",
            quick="101 s of CPU on one thread (Ising: 10^4 samples, 5 epochs; Heisenberg: chi 32, 10^4 samples, "
            "10 epochs, QMC 10^4 sweeps; measured, 158 s wall at load average 3)",
            full="3,036 s of CPU on one thread, 55 min wall at load average 1-3, 1.8 GB peak, with the chi-200 "
            "DMRG target from the cache (measured 2026-12-02; the DMRG itself adds minutes and memory on a fresh "
            "machine: 3.6 GB peak in an earlier run)",
        ),
        FigureEntry(
            "seed000",
            "Seed 000's two-Gaussian tutorial refitted from its own 100 points by binned-KL gradient descent: data, "
            "initial, final and true densities, the KL per step, generated samples; the seed's final parameters",
            "qgen.reproduce.seed000",
            quick="9 s on one thread (the tutorial's own 100 steps; measured)",
            full="5 s of compute, 14 s wall with imports, on one thread (measured 2026-12-01)",
        ),
        FigureEntry(
            "seed-toys",
            "The families of seeds 002 and 004 (mixture, KDE, flow, EBM, VAE, diffusion, GAN, WGAN-GP) on the 2-D toy "
            "sets, one panel each with its energy distance and held-out NLL",
            "qgen.reproduce.seed_toys",
            quick="two moons only, 2,000 points, half the epochs: 96-228 s on one thread (measured, machine shared; "
            "228 s with the WGAN-GP panel at load average 15, 48 CPU s)",
            full="four toy sets, 5,000 points: 722 s of CPU on one thread, 15 min wall (measured 2026-12-01)",
        ),
        FigureEntry(
            "tfim-phase",
            "Ising chain across the transition: <X>, <Z_0 Z_N/2> and the classical fidelity versus h, RNN versus "
            "raw data versus exact (free fermions), MPS targets",
            "qgen.reproduce.tfim_phase",
            quick="N = 10, h = 0.5, 1, 1.5, 5,000 samples: 207 s on one thread (measured, machine shared)",
            full="N = 50, nine fields, 5 x 10^4 samples, 15 epochs: 2,538 s of CPU on one thread, 56 min wall at "
            "load average 3-4, 2.4 GB peak (measured 2026-12-01)",
        ),
    )
}

#: Figures of issue 12 that do not exist yet, and why.
MISSING: dict[str, str] = {}


def figure_entry(name: str) -> FigureEntry:
    """The registry entry of a figure, or a QgenError listing the known names."""
    try:
        return FIGURES[name]
    except KeyError:
        known = ", ".join(FIGURES)
        raise QgenError(f"unknown figure {name!r}: expected one of {known} (qgen reproduce --list)") from None


def reproduce(
    name: str,
    output: str | os.PathLike,
    *,
    quick: bool = False,
    seed: int = 0,
    command: str | None = None,
    log: Callable[[str], None] = print,
    plan: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one figure and write NAME.png and NAME.json (numbers, settings, command, time) into `output`.

    `plan` overrides entries of the figure's QUICK or FULL plan (smaller sizes for a smoke test, say); the
    settings in the JSON are the ones used.

    Returns:
        the JSON record as written, with "png" and "json" holding the paths.
    """
    import torch

    from qgen.report.evaluation import write_json
    from qgen.report.plots import save_figure

    entry = figure_entry(name)
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    module = importlib.import_module(entry.module)
    start = time.perf_counter()
    fig, numbers, settings = module.run(quick=quick, seed=seed, log=log, **({"plan": plan} if plan else {}))
    seconds = time.perf_counter() - start
    png, path = folder / f"{name}.png", folder / f"{name}.json"
    save_figure(fig, png)
    record = {
        "figure": name,
        "title": entry.title,
        "quick": bool(quick),
        "seed": int(seed),
        "command": command or f"qgen reproduce {name}{' --quick' if quick else ''} --seed {seed} -o {folder}",
        "seconds": seconds,
        "threads": torch.get_num_threads(),
        "machine": f"{os.cpu_count()}-core {platform.machine()}",
        "settings": settings,
        "numbers": numbers,
        "png": str(png),
    }
    write_json(record, path)
    return {**record, "json": str(path)}
