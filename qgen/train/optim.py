"""Optimizers and learning-rate schedules per parameter group, from the Trainer's settings and per-group options."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from qgen.errors import TrainingError
from qgen.strings import positive_int

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "GROUP_OPTIONS",
    "group_settings",
    "make_optimizer",
    "make_scheduler",
    "Groups",
    "build_groups",
    "check_run_settings",
    "check_settings",
]

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = (None, "cosine", "step", "exponential", "plateau")
# What a group may set for itself; the rest of the Trainer's settings are shared by every group.
GROUP_OPTIONS = ("lr", "optimizer", "weight_decay", "betas", "momentum", "clip_grad", "schedule")


def group_settings(
    base: dict[str, Any], model_defaults: dict[str, dict[str, Any]], user: dict[str, dict[str, Any]], group: str
) -> dict[str, Any]:
    """The settings of one group: the Trainer's, overridden by the model's defaults, overridden by the user's.

    Args:
        base: the Trainer-wide values of GROUP_OPTIONS.
        model_defaults: `model.default_group_options()` (e.g. a WGAN's Adam betas).
        user: the Trainer's `group_options` argument.
        group: the group's name.
    """
    out = dict(base)
    for source in (model_defaults.get(group, {}), user.get(group, {})):
        unknown = set(source) - set(GROUP_OPTIONS)
        if unknown:
            raise TrainingError(
                f"group {group!r}: unknown option(s) {sorted(unknown)}; a group may set {list(GROUP_OPTIONS)}"
            )
        out.update(source)
    check_settings(out, f"group {group!r}: ")
    return out


def check_run_settings(
    *, batch_size: Any, epochs: Any, seed: Any, val_fraction: Any, early_stopping_patience: Any, mode: Any, monitor: Any
) -> dict[str, Any]:
    """Refuse run settings (shared by every group) that no run can use, naming the setting.

    Returns:
        the integer settings as Python ints (numpy integers are accepted): batch_size, epochs, seed and
        early_stopping_patience (None stays None), so a checkpoint stores plain numbers.
    """
    ints = {
        "batch_size": positive_int(batch_size, "batch_size", error=TrainingError),
        "epochs": positive_int(epochs, "epochs", error=TrainingError),
        "seed": positive_int(seed, "seed", minimum=0, error=TrainingError),
        "early_stopping_patience": None
        if early_stopping_patience is None
        else positive_int(early_stopping_patience, "early_stopping_patience (or None)", error=TrainingError),
    }
    if not (isinstance(val_fraction, (int, float)) and 0.0 <= val_fraction < 1.0):
        raise TrainingError(f"val_fraction must lie in [0, 1), got {val_fraction!r}")
    if mode not in ("min", "max"):
        raise TrainingError(f"mode must be 'min' or 'max', got {mode!r}")
    if monitor is not None and (not isinstance(monitor, str) or not monitor):
        raise TrainingError(f"monitor must be a history column name or 'none', got {monitor!r}")
    return ints


def check_settings(s: dict[str, Any], where: str = "") -> None:
    """Refuse values no optimizer or schedule can use, naming the setting."""
    lr = s.get("lr")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0 or lr == float("inf"):
        raise TrainingError(f"{where}lr must be a positive number, got {lr!r}")
    if s.get("optimizer") not in OPTIMIZERS:
        raise TrainingError(f"{where}unknown optimizer {s.get('optimizer')!r}: expected one of {OPTIMIZERS}")
    if s.get("schedule") not in SCHEDULES:
        raise TrainingError(f"{where}unknown schedule {s.get('schedule')!r}: expected one of {SCHEDULES}")
    wd = s.get("weight_decay", 0.0)
    if isinstance(wd, bool) or not isinstance(wd, (int, float)) or not 0 <= wd < float("inf"):
        raise TrainingError(f"{where}weight_decay must be a finite number >= 0, got {wd!r}")
    clip = s.get("clip_grad")
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0):
        raise TrainingError(f"{where}clip_grad must be a positive number or None, got {clip!r}")


def make_optimizer(params: list[nn.Parameter], s: dict[str, Any]) -> torch.optim.Optimizer:
    """The optimizer a group's settings name ("sgd" uses momentum 0.9 unless the group sets `momentum`)."""
    lr, wd, name = float(s["lr"]), float(s.get("weight_decay", 0.0)), s["optimizer"]
    betas = tuple(s["betas"]) if s.get("betas") is not None else (0.9, 0.999)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, betas=betas)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, betas=betas)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(s.get("momentum", 0.9)), weight_decay=wd)
    return torch.optim.RMSprop(params, lr=lr, weight_decay=wd, momentum=float(s.get("momentum", 0.0)))


def make_scheduler(opt: torch.optim.Optimizer, schedule: str | None, epochs: int, mode: str) -> Any:
    """A per-epoch schedule: "cosine" (to 0 over `epochs`), "step" (x0.1 at 1/2 and 3/4 of `epochs`),
    "exponential" (x0.95 per epoch), "plateau" (x0.5 after 3 epochs without a better monitored value)."""
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    if schedule == "step":
        milestones = sorted({max(1, epochs // 2), max(1, 3 * epochs // 4)})
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
    if schedule == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95)
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode, factor=0.5, patience=3)
    return None


class Groups:
    """A model's parameter groups with their settings, optimizers and schedules (groups without parameters
    have settings but no optimizer: a closed-form model has none at all)."""

    def __init__(self) -> None:
        self.params: dict[str, list[nn.Parameter]] = {}
        self.settings: dict[str, dict[str, Any]] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}


def build_groups(
    groups: Any,
    base: dict[str, Any],
    model_defaults: dict[str, dict[str, Any]],
    user: dict[str, dict[str, Any]],
    epochs: int,
    mode: str,
) -> Groups:
    """One optimizer and schedule per group of `model.parameter_groups()`, settings resolved per group."""
    if not isinstance(groups, dict):
        raise TrainingError(f"parameter_groups() must return a dict of parameter lists, got {type(groups).__name__}")
    unknown = set(user) - set(groups)
    if unknown:
        raise TrainingError(f"group_options names {sorted(unknown)}; this model's groups are {sorted(groups)}")
    out = Groups()
    for name, params in groups.items():
        out.params[name] = params = list(params)
        out.settings[name] = s = group_settings(base, model_defaults, user, name)
        if params:
            out.optimizers[name] = make_optimizer(params, s)
            out.schedulers[name] = make_scheduler(out.optimizers[name], s["schedule"], epochs, mode)
    return out
