"""DMRG accuracy and time: energy-per-site error of qgen.states.dmrg.tfim_mps against free fermions.

Run: .venv/bin/python benchmarks/bench_dmrg.py [--sizes 50 100 500 1000] [--fields 0.5 1 2]
Each point runs a fresh DMRG (cache=False) and checks |E_DMRG - E_exact| / N <= 1e-8.
"""

from __future__ import annotations

import argparse
import time

from qgen.states.dmrg import tfim_mps
from qgen.states.free_fermions import tfim_free_fermion_energy
from qgen.states.hamiltonians import tfim_hamiltonian

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 500, 1000])
    parser.add_argument("--fields", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--cutoff", type=float, default=1e-10)
    args = parser.parse_args(argv)
    print(
        f"{'h':>5} {'N':>6} {'chi':>5} {'E_DMRG':>22} {'E_exact':>22} {'err/site':>10} {'<H>_MPS err/site':>16} "
        f"{'DMRG s':>8} {'<H> s':>7}"
    )
    failures = 0
    for h in args.fields:
        for n in args.sizes:
            start = time.perf_counter()
            state = tfim_mps(n, h=h, cutoff=args.cutoff, cache=False)
            dmrg_s = time.perf_counter() - start
            exact = tfim_free_fermion_energy(n, h)
            start = time.perf_counter()
            measured = state.expectation(tfim_hamiltonian(n, h))
            expect_s = time.perf_counter() - start
            err, err_h = (state.energy - exact) / n, (measured - exact) / n
            failures += abs(err_h) > 1e-8
            print(
                f"{h:5.2f} {n:6d} {state.bond_dimension:5d} {state.energy:22.12f} {exact:22.12f} {err:10.2e} "
                f"{err_h:16.2e} {dmrg_s:8.1f} {expect_s:7.2f}",
                flush=True,
            )
    print("all within 1e-8 per site" if not failures else f"{failures} points above 1e-8 per site")
    return int(failures > 0)


if __name__ == "__main__":
    raise SystemExit(main())
