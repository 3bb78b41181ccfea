"""seed-toys: the generative families of seeds 002 and 004 fitted to the 2-D toy sets, one panel per fit.

Seed 002 (Borisyak, "Generative models": kernel density estimates, Gaussian mixtures, GANs and the Wasserstein GAN,
VAEs, normalizing flows) and seed 004 (Hjorth-Jensen's course notes: energy-based models and Boltzmann machines,
VAEs, diffusion models, GANs) introduce these families on low-dimensional examples. Here every family registered on
vectors is trained through the common Trainer on points of qgen.data.toy (two moons, eight Gaussians, rings,
checkerboard), and every panel shows the model's samples with its metrics, each labelled by its estimator:

- the energy distance between model samples and held-out points (Szekely and Rizzo 2013; any family, since it
  needs samples only), beside the same statistic between two independent sets of true points (its noise floor);
- the held-out negative log-likelihood, where the family has a likelihood: "exact" (mixture, KDE, flow),
  "lower_bound" (VAE, diffusion: an upper bound on the NLL), or "unnormalized+quadrature" (EBM, log Z on a grid),
  beside the true density's NLL of the same points; their difference estimates KL(true || model).

A family that fails to build or train (say, a backend still in progress) gets an empty panel saying why, and the
JSON records the error, so one broken family never hides the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["run", "fit_family", "FAMILIES", "QUICK", "FULL"]

# Per family: constructor options and Trainer settings. Sizes are those that fit a 2-D toy set in seconds to a
# minute on one thread; learning rates follow each backend's tests and benchmarks (GANs: Adam (0.5, 0.9), low lr).
FAMILIES: dict[str, dict[str, Any]] = {
    "mixture": {"options": {"n_components": 16}, "train": {"batch_size": 100_000, "epochs": 60, "lr": 1e-3}},
    "kde": {"options": {"bandwidth": "cv"}, "train": {"batch_size": 100_000, "epochs": 1, "lr": 1e-3}},
    "flow": {"options": {"kind": "nsf", "transforms": 4, "hidden": [64, 64]}, "train": {"epochs": 40, "lr": 3e-3}},
    "ebm": {
        "options": {"hidden": [64, 64], "langevin_steps": 20, "step_size": 0.01, "sample_steps": 300},
        "train": {"epochs": 150, "lr": 1e-3, "batch_size": 128},
    },
    "vae": {"options": {"latent_dim": 2, "hidden_size": 64}, "train": {"epochs": 200, "lr": 3e-3, "batch_size": 128}},
    "diffusion": {
        "options": {"hidden_size": 128, "n_layers": 3},
        "train": {"epochs": 200, "lr": 2e-3, "batch_size": 128},
    },
    "gan": {"options": {"hidden_size": 64, "latent_dim": 8}, "train": {"epochs": 100, "lr": 3e-4, "batch_size": 128}},
    # The one-sided penalty (WGANGP's default) is what keeps it from collapsing on two moons: with the paper's
    # two-sided penalty every setting tried collapsed to a blob (energy distance 0.43 at lr 3e-4 x 30 epochs);
    # one-sided, 0.007-0.011 over three seeds at the same settings (benchmarks/README.md, WGAN-GP paragraph).
    "wgan-gp": {
        "options": {"hidden_size": 64, "latent_dim": 8},
        "train": {"epochs": 60, "lr": 3e-4, "batch_size": 128},
    },
}

FULL = {
    "families": ("mixture", "kde", "flow", "ebm", "vae", "diffusion", "gan", "wgan-gp"),
    "sets": ("moons", "8gaussians", "rings", "checkerboard"),
    "n_train": 5_000,
    "n_eval": 2_000,
    "epoch_scale": 1.0,
    "n_bootstrap": 50,
}
QUICK = {**FULL, "sets": ("moons",), "n_train": 2_000, "n_eval": 1_000, "epoch_scale": 0.5, "n_bootstrap": 20}


def fit_family(name: str, x: Any, *, seed: int = 0, epoch_scale: float = 1.0) -> tuple[Any, dict[str, Any]]:
    """Build family `name` on Vectors(dim) and train it on x (n, dim) with its FAMILIES settings.

    Returns:
        (the trained model, the settings used: options, Trainer settings and the training seconds).
    """
    from qgen.models.registry import build
    from qgen.train import Trainer

    spec = FAMILIES[name]
    train = {**spec["train"], "epochs": max(1, round(spec["train"]["epochs"] * epoch_scale))}
    train["batch_size"] = min(train.get("batch_size", 256), len(x))
    model = build(name, dim=x.shape[1], seed=seed, **spec["options"])
    start = time.perf_counter()
    Trainer(
        model, val_fraction=0.0, early_stopping_patience=None, monitor="none", progress=False, seed=seed, **train
    ).fit(x)
    return model.eval(), {"options": spec["options"], "train": train, "seconds": time.perf_counter() - start}


def _metrics(model: Any, held_out: Any, plan: dict[str, Any], seed: int) -> dict:
    import torch

    from qgen.metrics.vectors import energy_distance, heldout_nll

    with torch.no_grad():
        samples = model.sample(len(held_out), generator=torch.Generator().manual_seed(seed + 1)).double()
    out: dict[str, Any] = {"samples": samples}
    out["energy_distance"] = energy_distance(samples, held_out, n_bootstrap=plan["n_bootstrap"], seed=seed).to_dict()
    if model.likelihood != "none":
        out["heldout_nll"] = heldout_nll(model, held_out, generator=seed).to_dict()
    return out


def run(
    quick: bool = False, seed: int = 0, log: Callable[[str], None] = print, plan: dict[str, Any] | None = None
) -> tuple[Any, dict, dict]:
    """Fit every family to every toy set of the plan; returns (figure, numbers, settings)."""
    import numpy as np
    import torch
    from matplotlib.figure import Figure

    from qgen.data.toy import toy_density
    from qgen.estimate import sample_mean
    from qgen.metrics.vectors import energy_distance

    plan = {**(QUICK if quick else FULL), **(plan or {})}
    families, sets = list(plan["families"]), list(plan["sets"])
    # Panels keep each set's aspect ratio (equal axes), so a row is as tall as its box is high, plus its titles.
    aspect = [(b[1][1] - b[1][0]) / (b[0][1] - b[0][0]) for b in (toy_density(s).bounds for s in sets)]
    heights = [2.4 * a + 0.5 for a in aspect]
    fig = Figure(figsize=(2.4 * (len(families) + 1), sum(heights)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(sets), len(families) + 1, squeeze=False, height_ratios=heights))
    numbers: dict[str, Any] = {}
    for row, set_name in enumerate(sets):
        truth = toy_density(set_name)
        x = truth.sample(plan["n_train"], generator=seed).float()
        held_out = truth.sample(plan["n_eval"], generator=seed + 1)
        reference = truth.sample(plan["n_eval"], generator=seed + 2)
        floor = energy_distance(reference, held_out, n_bootstrap=plan["n_bootstrap"], seed=seed)
        true_nll = sample_mean(-truth.log_prob(held_out).numpy(), "exact", {"density": set_name})
        record: dict[str, Any] = {
            "true": {"energy_distance": floor.to_dict(), "heldout_nll": true_nll.to_dict()},
            "families": {},
        }
        lo, hi = np.array(truth.bounds)[:, 0], np.array(truth.bounds)[:, 1]
        ax = axes[row, 0]
        ax.scatter(*reference.numpy().T, s=1, alpha=0.4, color="k")
        ax.set_title(f"{set_name}: true\nED {floor.value:.4f}, NLL {true_nll.value:.3f}", fontsize=8)
        for col, name in enumerate(families, start=1):
            ax = axes[row, col]
            try:
                model, used = fit_family(name, x, seed=seed, epoch_scale=plan["epoch_scale"])
                result = _metrics(model, held_out, plan, seed)
            except Exception as err:  # one broken family must not hide the others; its error is recorded
                record["families"][name] = {"error": f"{type(err).__name__}: {err}"}
                log(f"  {set_name:<12} {name:<10} failed: {type(err).__name__}: {err}")
                ax.text(0.5, 0.5, f"{name}\nfailed:\n{type(err).__name__}", ha="center", va="center", fontsize=8)
                continue
            samples = result.pop("samples").numpy()
            ed = result["energy_distance"]
            label = f"{name}\nED {ed['value']:.4f} +- {ed['stderr']:.4f}"
            if "heldout_nll" in result:
                nll = result["heldout_nll"]
                bound = " (bound)" if nll["method"] == "lower_bound" else ""
                label += f", NLL {nll['value']:.3f}{bound}"
            record["families"][name] = {**result, "likelihood": model.likelihood, **used}
            log(f"  {set_name:<12} {name:<10} {label.replace(chr(10), ' ')} ({used['seconds']:.0f} s)")
            ax.scatter(*samples.T, s=1, alpha=0.4, color=f"C{col % 10}")
            ax.set_title(label, fontsize=8)
        for ax in axes[row]:
            ax.set_xlim(lo[0], hi[0])
            ax.set_ylim(lo[1], hi[1])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_aspect("equal")
        numbers[set_name] = record
    settings = {**plan, "recipes": {name: FAMILIES[name] for name in families}, "threads": torch.get_num_threads()}
    return fig, numbers, settings
