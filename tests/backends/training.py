"""A short local training loop for the backend tests: one Adam per parameter group, Updates applied in order."""

from __future__ import annotations

import torch

from qgen.models.base import GenerativeModel, Step


def train_locally(
    model: GenerativeModel,
    data: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 128,
    lr: float | dict[str, float] = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    seed: int = 0,
) -> list[dict[str, float]]:
    """Train `model` on `data` for `steps` batches through parameter_groups/training_step; return the logs."""
    x = model.check_outcomes(data)
    gen = torch.Generator().manual_seed(seed)
    model.prepare(x, gen)
    groups = model.parameter_groups()
    rates = lr if isinstance(lr, dict) else dict.fromkeys(groups, lr)
    optimizers = {g: torch.optim.Adam(ps, lr=rates[g], betas=betas) for g, ps in groups.items()}
    logs = []
    model.train()
    for i in range(steps):
        rows = torch.randint(len(x), (batch_size,), generator=gen)
        for update in model.training_step(x[rows], Step(i // 100, i % 100, gen)):
            if update.group is None:
                continue
            params = groups[update.group]
            grads = update.grads
            if grads is None:
                grads = torch.autograd.grad(update.loss, params, allow_unused=True)
            for p, g in zip(params, grads, strict=True):
                p.grad = None if g is None else g.detach()
            optimizers[update.group].step()
            logs.append({k: float(v) for k, v in update.log.items()})
    model.eval()
    return logs
