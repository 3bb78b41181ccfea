"""A generic backend on continuous toy data: fit a normalizing flow (or a Gaussian mixture) to two moons.

    python examples/generic_backend_toy.py -o results/moons                  # flow, 5,000 points, about 1 min
    python examples/generic_backend_toy.py --family mixture -o results/moons  # EM, seconds
    python examples/generic_backend_toy.py --fast -o /tmp/moons               # tiny sizes (the test suite)

Every qgen backend is a GenerativeModel on Vectors(dim) as well as on outcome strings, trained by the same
Trainer. The moons have an exact density (qgen.data.toy), so the fit is scored against the truth: the held-out
negative log-likelihood beside the true density's (their difference estimates KL(true || model)), and the energy
distance between model samples and held-out points beside that of two independent true samples.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

RECIPES = {
    "flow": {"options": {"kind": "nsf", "transforms": 4, "hidden": [64, 64]}, "epochs": 40, "lr": 3e-3},
    "mixture": {"options": {"n_components": 16}, "epochs": 60, "lr": 1e-3},  # EM: lr unused
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=sorted(RECIPES), default="flow")
    parser.add_argument("--fast", action="store_true", help="tiny sizes (what the test suite runs)")
    parser.add_argument("-o", "--output", default="results/moons")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from matplotlib.figure import Figure

    from qgen.data.toy import two_moons
    from qgen.estimate import sample_mean
    from qgen.metrics.vectors import energy_distance, heldout_nll
    from qgen.models import build, save
    from qgen.report.plots import save_figure
    from qgen.train import Trainer

    truth = two_moons(noise=0.1)
    n_train, n_eval = (500, 300) if args.fast else (5_000, 2_000)
    x = truth.sample(n_train, generator=0).float()
    held_out, reference = truth.sample(n_eval, generator=1), truth.sample(n_eval, generator=2)

    recipe = RECIPES[args.family]
    model = build(args.family, dim=2, seed=0, **recipe["options"])
    batch = len(x) if args.family == "mixture" else 256  # EM takes the whole set as one batch
    epochs = 3 if args.fast else recipe["epochs"]
    Trainer(model, epochs=epochs, batch_size=batch, lr=recipe["lr"], val_fraction=0.1, progress=False).fit(x)
    model.eval()

    nll = heldout_nll(model, held_out)
    true_nll = sample_mean(-truth.log_prob(held_out).numpy(), "exact")
    with torch.no_grad():
        samples = model.sample(n_eval, generator=3).double()
    ed = energy_distance(samples, held_out, n_bootstrap=20)
    floor = energy_distance(reference, held_out, n_bootstrap=20)
    print(f"{args.family}: held-out NLL {nll:.4f}; true density {true_nll:.4f}")
    print(f"energy distance to held-out points {ed:.5f}; between two true samples {floor:.5f}")

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    save(model, out / f"{args.family}.pt")
    fig = Figure(figsize=(8, 3.4), layout="constrained")
    for ax, points, title in zip(fig.subplots(1, 2), (reference, samples), ("true", args.family), strict=True):
        ax.scatter(*points.numpy().T, s=2, alpha=0.5)
        ax.set_title(title)
        ax.set_aspect("equal")
    save_figure(fig, out / f"{args.family}.png")
    print(f"wrote {out / f'{args.family}.pt'} and {out / f'{args.family}.png'}")


if __name__ == "__main__":
    main()
