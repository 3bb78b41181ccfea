"""The torchrun environment: ranks, the process group, each rank's share of a batch, and sums over ranks."""

from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["Distributed"]


class Distributed:
    """The torchrun environment (WORLD_SIZE, RANK, LOCAL_RANK); world 1 when not launched by torchrun.

    Every rank draws the same global batches and takes an interleaved share of each (`shard`), so that the
    ranks together see exactly the batches a single process would. Without torchrun every method is the
    identity, and no process group is made.
    """

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))

    @property
    def active(self) -> bool:
        return self.world > 1

    def setup(self, device: torch.device) -> None:
        """Join the process group (NCCL on CUDA, Gloo on CPU) unless one is running already.

        The group lives as long as the process (destroyed at exit): tearing it down after each `fit` and
        making it again, as a script that trains several models would, races Gloo's connection set-up.
        """
        if self.active and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            atexit.register(_destroy)

    def teardown(self) -> None:
        """Wait for every rank to finish the run (the process group stays for the next run)."""
        if self.active and dist.is_initialized():
            dist.barrier()

    def shard(self, rows: Tensor) -> Tensor:
        """This rank's interleaved share of `rows` (every world-th row, from row `rank`)."""
        return rows[self.rank :: self.world]

    def batch_shares(self, perm: Tensor, batch_size: int) -> list[tuple[Tensor, int]]:
        """This rank's share of each global batch of `batch_size` indices of `perm`, with the global batch size.

        The ranks' shares of one batch may differ by one row; the global size lets each rank weight its loss
        so that the average over ranks is the gradient of the global batch mean.
        """
        batches = list(perm.split(batch_size))
        # A tail smaller than the world would leave a rank without samples: fold it into the previous batch.
        if len(batches) > 1 and len(batches[-1]) < self.world:
            batches[-2:] = [torch.cat(batches[-2:])]
        return [(self.shard(b), len(b)) for b in batches]

    def sum_over_ranks(self, values: Tensor) -> Tensor:
        """`values` summed over all ranks, in place."""
        if self.active:
            dist.all_reduce(values)
        return values

    def mean_over_ranks(self, value: float, device: torch.device) -> float:
        """The mean over ranks of one number per rank."""
        if not self.active:
            return value
        reduced = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(reduced)
        return float(reduced) / self.world

    def broadcast_from_main(self, values: list[float], device: torch.device) -> list[float]:
        """Rank 0's values on every rank (decisions only rank 0 can make, such as a callback's stop)."""
        if not self.active:
            return list(values)
        reduced = torch.tensor(values, dtype=torch.float64, device=device)
        dist.broadcast(reduced, src=0)
        return reduced.tolist()


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
