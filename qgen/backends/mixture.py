"""Mixture models fitted by expectation-maximisation: Gaussians on vectors, products of categoricals on strings.

References:
    Dempster, Laird, Rubin, "Maximum likelihood from incomplete data via the EM algorithm", J. R. Stat. Soc. B 39,
    1 (1977); Bishop, "Pattern Recognition and Machine Learning" (2006), sections 9.2 (Gaussian mixtures) and 9.3.3
    (mixtures of Bernoulli, here categorical, distributions); Cappé and Moulines, "On-line expectation-maximization
    algorithm for latent data models", J. R. Stat. Soc. B 71, 593 (2009), and Liang and Klein, "Online EM for
    unsupervised models", NAACL 2009 (stepwise EM: running sufficient statistics with step sizes (t + 1)^-alpha).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from qgen.errors import ModelError
from qgen.models.base import GenerativeModel, Step, Support, Update, Vectors
from qgen.seeding import as_generator
from qgen.strings import positive_int

__all__ = ["Mixture"]

_LOG_2PI = math.log(2.0 * math.pi)


class Mixture(GenerativeModel):
    """A finite mixture p(x) = sum_c pi_c p_c(x), fitted by closed-form EM steps (no optimizer, no gradients).

    On vectors each component is a Gaussian N(mu_c, Sigma_c) with a full or diagonal covariance; on strings each
    component is a product of per-site categoricals, p_c(a) = prod_j theta_{c, j, a_j}. Every training batch is one
    EM step: the E-step's sufficient statistics (sum of responsibilities, of responsibility-weighted x and x x^T,
    or symbol counts) are summed over ranks with `step.ranks.sum`, so under torchrun the M-step is the one the
    global batch would give, identically on every rank.

    How a batch's statistics enter the M-step is `em`: "batch" uses the batch's alone (with the whole training set
    as one batch this is classical EM, which never decreases the likelihood; with smaller batches it would fit
    each batch in turn and forget the others); "stepwise" keeps running statistics s <- (1 - eta_t) s + eta_t
    s_batch with eta_t = (t + 1)^(-step_decay) over the steps t = 0, 1, ... and maximises those (stepwise EM,
    which converges to a stationary point of the whole data's likelihood for step_decay in (0.5, 1]); "auto"
    (default) is "batch" when the batch holds the whole training split that `prepare` saw, "stepwise" otherwise.
    The running statistics are buffers, so a checkpoint resumes them bit-exactly.

    Initialisation happens at the first training step (not in `prepare`, which sees only a rank's own data): on
    vectors, k-means (seeded by k-means++, best of 10) on rank 0's batch gives the initial means and `ranks.sum`
    shares them (a broadcast); covariances start at the global batch covariance; on strings the site
    distributions start as Dirichlet(1) draws from the step's generator, which is the same on every rank.

    Args:
        support: Strings(N, K) or Vectors(dim) (or n_qubits, n_outcomes).
        n_components: the number of mixture components.
        covariance: "full" or "diag" (vectors).
        reg: added to the covariance diagonal in every M-step (keeps components from collapsing onto a point).
        smoothing: Dirichlet pseudo-count added to each symbol count in the M-step (strings; 0 is plain maximum
            likelihood, and EM then never decreases the likelihood; > 0 is the MAP estimate, and EM never decreases
            the log-likelihood plus the log-prior).
        em: "auto", "batch" or "stepwise" (see above).
        step_decay: alpha of the stepwise step sizes (t + 1)^(-alpha), in (0.5, 1].

    Example:
        >>> from qgen.models.base import Vectors
        >>> model = Mixture(Vectors(1), n_components=2)
        >>> x = torch.cat([torch.randn(200, 1, generator=torch.Generator().manual_seed(0)) - 3, torch.ones(200, 1) * 3])
        >>> for i in range(30):
        ...     _ = list(model.training_step(x, Step(0, i, torch.Generator().manual_seed(i))))
        >>> sorted(round(m, 1) for m in model.means[:, 0].tolist())
        [-3.0, 3.0]
    """

    name: ClassVar[str] = "mixture"
    likelihood: ClassVar[Literal["exact"]] = "exact"
    sampling: ClassVar[Literal["exact"]] = "exact"
    monitor: ClassVar[str | None] = "loss"
    supports: ClassVar[tuple[str, ...]] = ("strings", "vectors")

    def __init__(
        self,
        support: Support | int,
        n_outcomes: int | None = None,
        *,
        n_components: int = 8,
        covariance: str = "full",
        reg: float = 1e-6,
        smoothing: float = 1e-3,
        em: str = "auto",
        step_decay: float = 0.7,
    ) -> None:
        super().__init__(support, n_outcomes)
        n_components = positive_int(n_components, "n_components", error=ModelError)
        if covariance not in ("full", "diag"):
            raise ModelError(f"covariance must be 'full' or 'diag', got {covariance!r}")
        for label, value in (("reg", reg), ("smoothing", smoothing)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ModelError(f"{label} must be a number >= 0, got {value!r}")
        if em not in ("auto", "batch", "stepwise"):
            raise ModelError(f"em must be 'auto', 'batch' or 'stepwise', got {em!r}")
        if isinstance(step_decay, bool) or not isinstance(step_decay, int | float) or not 0.5 < step_decay <= 1:
            raise ModelError(f"step_decay must be a number in (0.5, 1], got {step_decay!r}")
        self.hyperparameters = {
            "n_components": n_components,
            "covariance": covariance,
            "reg": float(reg),
            "smoothing": float(smoothing),
            "em": em,
            "step_decay": float(step_decay),
        }
        c = n_components
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        # Stepwise EM: the training split's size (rank-local, from prepare; 0 = unknown), the steps taken, and the
        # running statistics (resp sums, n; then x and x x^T sums, or symbol counts), in float64.
        self.register_buffer("train_size", torch.zeros((), dtype=torch.long))
        self.register_buffer("em_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("log_weights", torch.full((c,), -math.log(c)))
        if isinstance(self.support, Vectors):
            d = self.support.dim
            self.register_buffer("means", torch.zeros(c, d))
            self.register_buffer("scale_tril", torch.eye(d).repeat(c, 1, 1))  # Cholesky factor of Sigma_c
            self.register_buffer("running", torch.zeros(c + 1 + c * d + c * d * d, dtype=torch.float64))
        else:
            n, k = self.support.n_sites, self.support.n_symbols
            self.register_buffer("log_theta", torch.full((c, n, k), -math.log(k)))
            self.register_buffer("running", torch.zeros(c + 1 + c * n * k, dtype=torch.float64))

    @property
    def dtype(self) -> torch.dtype:
        return self.log_weights.dtype

    # ---- the distribution ----------------------------------------------------------------------------------

    def component_log_prob(self, x: Tensor) -> Tensor:
        """log pi_c + log p_c(x): (n, C) for a validated batch."""
        if isinstance(self.support, Vectors):
            diff = x.unsqueeze(1) - self.means  # (n, C, d)
            # Solve L z = diff per component: log N = -|z|^2/2 - sum log diag L - d/2 log 2 pi.
            z = torch.linalg.solve_triangular(self.scale_tril, diff.permute(1, 2, 0), upper=False)  # (C, d, n)
            maha = z.pow(2).sum(1).T  # (n, C)
            log_det = torch.diagonal(self.scale_tril, dim1=-2, dim2=-1).log().sum(-1)
            comp = -0.5 * maha - log_det - 0.5 * self.support.dim * _LOG_2PI
        else:
            # sum_j log theta_{c, j, a_j}: gather each site's table at the observed symbols.
            idx = x.T.unsqueeze(0).expand(self.log_theta.shape[0], -1, -1)  # (C, N, n)
            comp = torch.gather(self.log_theta, 2, idx).sum(1).T  # (n, C)
        return comp + self.log_weights

    def log_prob(self, x: Tensor) -> Tensor:
        return torch.logsumexp(self.component_log_prob(self.check_outcomes(x)), dim=1)

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        n = positive_int(n, "n", minimum=0, error=ModelError)
        g = as_generator(generator, self.device)
        comp = torch.multinomial(self.log_weights.exp(), max(n, 1), replacement=True, generator=g)[:n]
        if isinstance(self.support, Vectors):
            eps = torch.randn(n, self.support.dim, generator=g, dtype=self.dtype, device=self.device)
            return self.means[comp] + (self.scale_tril[comp] @ eps.unsqueeze(-1)).squeeze(-1)
        probs = self.log_theta.exp()[comp]  # (n, N, K)
        flat = probs.reshape(-1, probs.shape[-1])
        return torch.multinomial(flat, 1, generator=g).reshape(n, self.support.n_sites)

    # ---- EM ------------------------------------------------------------------------------------------------

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {}  # closed-form updates only

    def prepare(self, train: Tensor, generator: torch.Generator) -> None:
        self.train_size.fill_(int(train.shape[0]))

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        x = self.check_outcomes(x)
        with torch.no_grad():
            if not bool(self.initialized):
                self._initialize(x, step)
            nll = self.em_step(x, step)
        yield Update(None, log={"loss": nll})

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        # The held-out NLL: what `monitor` names, so early stopping and best weights see the fit (EM overfits
        # with many components: GHZ-6 with 64 components, full-batch EM on 9,000 strings, peaks and then falls).
        with torch.no_grad():
            return {"loss": -self.log_prob(x).mean()}

    def stepwise(self, batch_size: int) -> bool:
        """Whether a training batch of this (rank-local) size takes a stepwise EM step (see the class docstring)."""
        mode = self.hyperparameters["em"]
        if mode == "auto":
            return 0 < batch_size < int(self.train_size)
        return mode == "stepwise"

    def em_step(self, x: Tensor, step: Step | None = None) -> Tensor:
        """One EM step on batch x (statistics summed over ranks); returns the batch's mean NLL before the step."""
        ranks = step.ranks if step is not None else None
        total = (lambda t: ranks.sum(t)) if ranks is not None else (lambda t: t)
        comp = self.component_log_prob(x)
        log_px = torch.logsumexp(comp, dim=1, keepdim=True)
        resp = (comp - log_px).exp()  # (n, C): E-step
        stats = total(
            torch.cat(
                [resp.sum(0), log_px.sum().reshape(1), torch.tensor([x.shape[0]], dtype=resp.dtype, device=resp.device)]
            )
        )
        nll = -stats[-2] / stats[-1]
        # The sufficient statistics of the batch, flat: responsibility sums, n, then the family's own.
        if isinstance(self.support, Vectors):
            s1 = resp.T @ x  # (C, d)
            s2 = torch.einsum("nc,ni,nj->cij", resp, x, x)  # (C, d, d)
            family = torch.cat([s1.reshape(-1), s2.reshape(-1)])
        else:
            one_hot = nn.functional.one_hot(x, self.support.n_symbols).to(resp.dtype)
            family = torch.einsum("nc,njk->cjk", resp, one_hot).reshape(-1)
        flat = torch.cat([stats[:-2], stats[-1:], total(family)])
        if self.stepwise(x.shape[0]):
            eta = float(int(self.em_steps) + 1) ** -self.hyperparameters["step_decay"]  # 1 at the first step
            self.running.mul_(1 - eta).add_(flat.double(), alpha=eta)
            self.em_steps.add_(1)
            flat = self.running.to(flat.dtype)
        self._m_step(flat)
        return nll

    def _m_step(self, flat: Tensor) -> None:
        """Parameters from flat sufficient statistics (responsibility sums, n, then x and x x^T sums or counts)."""
        c = self.log_weights.shape[0]
        nk, n_total, family = flat[:c], flat[c], flat[c + 1 :]
        self.log_weights.copy_((nk.clamp_min(1e-300) / n_total).log())
        if isinstance(self.support, Vectors):
            d = self.support.dim
            self._gaussian_m_step(family[: c * d].reshape(c, d), family[c * d :].reshape(c, d, d), nk)
        else:
            counts = family.reshape(self.log_theta.shape) + self.hyperparameters["smoothing"]
            norm = counts.sum(-1, keepdim=True)
            # A component with no weight and no smoothing keeps its old tables (0/0 otherwise).
            self.log_theta.copy_(torch.where(norm > 0, counts.clamp_min(1e-300).log() - norm.log(), self.log_theta))

    def _gaussian_m_step(self, s1: Tensor, s2: Tensor, nk: Tensor) -> None:
        d = self.support.dim
        safe = nk.clamp_min(1e-12)
        means = s1 / safe[:, None]
        cov = s2 / safe[:, None, None] - means.unsqueeze(2) * means.unsqueeze(1)
        if self.hyperparameters["covariance"] == "diag":
            cov = torch.diag_embed(torch.diagonal(cov, dim1=-2, dim2=-1))
        cov = 0.5 * (cov + cov.transpose(-1, -2)) + self.hyperparameters["reg"] * torch.eye(
            d, dtype=cov.dtype, device=cov.device
        )
        chol, info = torch.linalg.cholesky_ex(cov)
        # An empty or degenerate component keeps its previous shape instead of failing the whole fit.
        ok = (nk > 1e-12) & (info == 0)
        self.means.copy_(torch.where(ok[:, None], means, self.means))
        self.scale_tril.copy_(torch.where(ok[:, None, None], chol, self.scale_tril))

    def _initialize(self, x: Tensor, step: Step) -> None:
        g = step.generator
        if isinstance(self.support, Vectors):
            n_total = step.ranks.sum(torch.tensor(float(x.shape[0]), dtype=x.dtype, device=x.device))
            mean = step.ranks.sum(x.sum(0)) / n_total
            cov = step.ranks.sum((x - mean).T @ (x - mean)) / n_total
            cov = cov + (self.hyperparameters["reg"] + 1e-12) * torch.eye(
                self.support.dim, dtype=x.dtype, device=x.device
            )
            picks = _kmeans(x, self.means.shape[0], g) if step.ranks.rank == 0 else torch.zeros_like(self.means)
            self.means.copy_(step.ranks.sum(picks))  # rank 0's picks, shared with every rank
            self.scale_tril.copy_(torch.linalg.cholesky(cov).expand_as(self.scale_tril))
        else:
            gen_device = g.device if g is not None else self.device
            e = -torch.rand(self.log_theta.shape, generator=g, dtype=torch.float64, device=gen_device).log()
            self.log_theta.copy_((e / e.sum(-1, keepdim=True)).log().to(self.log_theta))
        self.log_weights.fill_(-math.log(self.log_weights.numel()))
        self.initialized.fill_(True)


def _kmeans(x: Tensor, k: int, generator: torch.Generator | None, restarts: int = 10, lloyd: int = 20) -> Tensor:
    """k centres by k-means: `restarts` k-means++ seedings (Arthur and Vassilvitskii, SODA 2007: each next seed
    with probability proportional to its squared distance from the nearest seed so far), each refined by `lloyd`
    Lloyd iterations; the run with the smallest within-cluster sum of squares wins (as scikit-learn's n_init)."""
    if x.shape[0] == 0:
        raise ModelError("cannot initialise a mixture on an empty batch")
    gen_device = generator.device if generator is not None else x.device
    best, best_inertia = None, math.inf
    for _ in range(restarts):
        first = int(torch.randint(x.shape[0], (1,), generator=generator, device=gen_device))
        seeds = [x[first]]
        d2 = (x - seeds[0]).pow(2).sum(1)
        for _ in range(1, k):
            weights = d2.to(torch.float64)
            if float(weights.sum()) <= 0:  # fewer distinct points than components: repeat one
                weights = torch.ones_like(weights)
            i = int(torch.multinomial(weights.to(gen_device), 1, generator=generator))
            seeds.append(x[i])
            d2 = torch.minimum(d2, (x - x[i]).pow(2).sum(1))
        centers = torch.stack(seeds)
        for _ in range(lloyd):
            label = torch.cdist(x, centers).argmin(1)
            counts = torch.bincount(label, minlength=k).to(x.dtype)
            sums = torch.zeros_like(centers).index_add_(0, label, x)
            centers = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centers)
        inertia = float(torch.cdist(x, centers).min(1).values.pow(2).sum())
        if inertia < best_inertia:
            best, best_inertia = centers, inertia
    return best
