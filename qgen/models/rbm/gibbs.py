"""Block-Gibbs sampling of an RBM with burn-in and thinning chosen from the chains' autocorrelation time."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from qgen.autocorrelation import integrated_time
from qgen.errors import ModelError
from qgen.models.rbm.energy import RBMEnergy

__all__ = ["sample_chains", "Sweep", "PILOT_SWEEPS", "MAX_PILOT_SWEEPS"]

#: one sweep of the chains: (states (n_chains, N), generator) -> new states
Sweep = Callable[[Tensor, "torch.Generator | None"], Tensor]

# The first pilot run, in sweeps; it doubles until the chains are 50 autocorrelation times long.
PILOT_SWEEPS = 200
MAX_PILOT_SWEEPS = 12_800


def _check_count(value: Any, label: str, low: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ModelError(f"{label} must be None (chosen automatically) or an integer >= {low}, got {value!r}")
    return value


def _pilot(
    energy: RBMEnergy, v: Tensor, generator: torch.Generator | None, sweep: Sweep
) -> tuple[Tensor, int, float, bool]:
    """Run the chains until their free energy's autocorrelation time is measured reliably (or the cap).

    Returns the chains' states, the sweeps run, tau and whether tau was reliable. The first half of each pilot
    window is discarded as burn-in before tau is measured on the second.
    """
    sweeps, window = 0, PILOT_SWEEPS
    while True:
        trace = []
        with torch.no_grad():
            for _ in range(window):
                v = sweep(v, generator)
                trace.append(energy.free_energy(v))
        sweeps += window
        values = torch.stack(trace, 1)[:, window // 2 :].double().cpu().numpy()
        tau, reliable = integrated_time(values)
        if reliable or sweeps >= MAX_PILOT_SWEEPS:
            return v, sweeps, tau, reliable
        window *= 2


def sample_chains(
    energy: RBMEnergy,
    init: Tensor,
    n: int,
    generator: torch.Generator | None,
    *,
    burn_in: int | None = None,
    thinning: int | None = None,
    sweep: Sweep | None = None,
) -> tuple[Tensor, dict[str, Any]]:
    """n samples from parallel block-Gibbs chains started at `init`.

    With `burn_in` or `thinning` None, a pilot run measures the integrated autocorrelation time tau of the
    chains' free energy (`qgen.autocorrelation.integrated_time`); then thinning = ceil(2 tau), so consecutive
    kept samples of a chain are nearly independent (var of a mean ~ tau var / n), and burn-in = max(pilot,
    ceil(20 tau)) sweeps.

    Args:
        energy: the RBM.
        init: (n_chains, N) int64 starting states; chain c gives rows c, c + n_chains, ...
        n: the number of samples.
        generator: the randomness.
        burn_in: sweeps discarded before the first sample (None: automatic).
        thinning: sweeps between kept samples of a chain (None: automatic).
        sweep: one sweep of the chains; default one block-Gibbs sweep (parallel tempering passes its own).

    Returns:
        (samples (n, N) int64, report): the report records burn_in, thinning, tau (None when both were given),
        whether tau was reliable, n_chains and sweeps_per_chain.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ModelError(f"the number of samples must be an integer >= 0, got {n!r}")
    burn_in, thinning = _check_count(burn_in, "burn_in", 0), _check_count(thinning, "thinning", 1)
    n_chains = init.shape[0]
    if sweep is None:

        def sweep(v: Tensor, g: torch.Generator | None) -> Tensor:
            return energy.gibbs(v, 1, g)

    def advance(v: Tensor, sweeps: int) -> Tensor:
        with torch.no_grad():
            for _ in range(sweeps):
                v = sweep(v, generator)
        return v

    v = init
    report: dict[str, Any] = {"n_chains": n_chains, "tau": None, "tau_reliable": None, "chosen": "given"}
    done = 0
    if burn_in is None or thinning is None:
        v, done, tau, reliable = _pilot(energy, v, generator, sweep)
        report |= {"tau": tau, "tau_reliable": reliable, "chosen": "auto"}
        tau = max(tau, 1.0)
        thinning = thinning if thinning is not None else math.ceil(2 * tau)
        burn_in = burn_in if burn_in is not None else max(done, math.ceil(20 * tau))
    v = advance(v, max(0, burn_in - done))
    per_chain = -(-n // n_chains) if n else 0
    kept = []
    for _ in range(per_chain):
        v = advance(v, thinning)
        kept.append(v)
    samples = torch.stack(kept, 0).reshape(-1, v.shape[1])[:n] if kept else v[:0]
    report |= {"burn_in": burn_in, "thinning": thinning, "sweeps_per_chain": max(burn_in, done) + per_chain * thinning}
    return samples, report
