"""Applying one Update: the group's gradients (weighted, averaged over ranks), clipping, the optimizer step."""

from __future__ import annotations

import torch
from torch import nn

from qgen.errors import TrainingError
from qgen.models.base import Update
from qgen.train.distributed import Distributed

__all__ = ["apply_update"]


def apply_update(
    update: Update,
    *,
    params: list[nn.Parameter],
    optimizer: torch.optim.Optimizer,
    clip_grad: float | None,
    dist: Distributed,
    weight: float,
) -> None:
    """Take one optimizer step of one group from an Update with a loss or explicit gradients.

    Args:
        update: the Update (its group is the one `params` and `optimizer` belong to).
        params: the group's parameters, in `parameter_groups()` order.
        optimizer: the group's optimizer.
        clip_grad: maximum gradient norm of the group, or None.
        dist: the data-parallel world; gradients are averaged over its ranks.
        weight: this rank's share of the global batch times the number of ranks (1 in one process), so that
            the average over ranks of weighted batch-mean gradients is the gradient of the global batch mean.
    """
    if update.loss is not None:
        if update.loss.ndim != 0:
            raise TrainingError(
                f"Update loss of group {update.group!r} must be a scalar, got {tuple(update.loss.shape)}"
            )
        # autograd.grad, not backward: the loss reaches only this group, other groups' .grad stay untouched
        grads = list(torch.autograd.grad(update.loss * weight, params, allow_unused=True))
    else:
        if len(update.grads) != len(params):
            raise TrainingError(
                f"Update of group {update.group!r} has {len(update.grads)} gradients for {len(params)} parameters"
            )
        grads = [g * weight if g is not None else None for g in update.grads]
    grads = [torch.zeros_like(p) if g is None else g.detach().to(p.dtype) for g, p in zip(grads, params)]
    for g, p in zip(grads, params):
        if g.shape != p.shape:
            raise TrainingError(
                f"Update of group {update.group!r}: gradient of shape {tuple(g.shape)} for a "
                f"parameter of shape {tuple(p.shape)}"
            )
    if dist.active:
        flat = dist.sum_over_ranks(torch.cat([g.reshape(-1) for g in grads])) / dist.world
        grads = list(flat.split([g.numel() for g in grads]))
    for p, g in zip(params, grads):
        p.grad = g.view_as(p).clone()
    if clip_grad is not None:
        torch.nn.utils.clip_grad_norm_(params, clip_grad)
    optimizer.step()
    for p in params:
        p.grad = None
