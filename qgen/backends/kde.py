"""Kernel density estimates: Gaussian kernels on vectors, Aitchison-Aitken kernels on strings; exact and sampleable.

References:
    Scott, "Multivariate Density Estimation" (1992), eq. (6.42); Silverman, "Density Estimation for Statistics and
    Data Analysis" (1986), eq. (4.15) (the bandwidth rules, in scipy.stats.gaussian_kde's multivariate form);
    Aitchison and Aitken, "Multivariate binary discrimination by the kernel method", Biometrika 63, 413 (1976)
    (the categorical kernel).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from qgen.errors import ModelError
from qgen.models.base import GenerativeModel, Step, Support, Update, Vectors
from qgen.seeding import as_generator
from qgen.strings import positive_int

__all__ = ["KDE", "BANDWIDTHS"]

BANDWIDTHS = ("auto", "scott", "silverman", "cv")
_CHUNK = 2048  # query rows per block: a block of (rows x points) distances stays a few MiB
_LOG_2PI = math.log(2.0 * math.pi)


class KDE(GenerativeModel):
    """p(x) = (1/m) sum_i k_h(x, x_i) over the m training points x_i: the data, smoothed.

    On vectors k_h is the Gaussian N(x; x_i, H) with H = h^2 Sigma, Sigma the data covariance and h from Scott's
    rule n^(-1/(d+4)), Silverman's (n (d+2) / 4)^(-1/(d+4)), or leave-one-out cross-validation (the h of a
    30-point log grid from h_Scott / 20 to 2 h_Scott that maximises the leave-one-out likelihood). On strings
    k_lambda(a, b) = prod_j [(1 - lambda) if a_j = b_j else lambda / (K - 1)] (Aitchison-Aitken), lambda in
    (0, (K-1)/K] chosen by leave-one-out cross-validation over a 40-point grid ("auto" and "cv"), or given.

    The fit is `prepare`: it stores the training split and chooses the bandwidth. Training steps change nothing
    (they log the batch NLL); validation reports the held-out NLL.

    Args:
        support: Strings(N, K) or Vectors(dim) (or n_qubits, n_outcomes).
        bandwidth: "auto" (Scott on vectors, cross-validation on strings), "scott", "silverman", "cv", or a
            number: the factor h on vectors, lambda on strings.
        max_points: keep at most this many training points (a seeded random subset), bounding memory and the
            O(m) cost of each evaluation.

    Example:
        >>> from qgen.models.base import Vectors
        >>> kde = KDE(Vectors(1), bandwidth=0.5)
        >>> kde.prepare(torch.tensor([[0.0], [1.0]]), torch.Generator().manual_seed(0))
        >>> # two kernels of std h * sample std = 0.5 * 0.7071, each 1.414 std away: log N(1.414) - log 0.3536
        >>> round(float(kde.log_prob(torch.tensor([[0.5]]))), 4)
        -0.8792
    """

    name: ClassVar[str] = "kde"
    likelihood: ClassVar[Literal["exact"]] = "exact"
    sampling: ClassVar[Literal["exact"]] = "exact"
    monitor: ClassVar[str | None] = "loss"
    supports: ClassVar[tuple[str, ...]] = ("strings", "vectors")

    def __init__(
        self,
        support: Support | int,
        n_outcomes: int | None = None,
        *,
        bandwidth: str | float = "auto",
        max_points: int | None = 100_000,
    ) -> None:
        super().__init__(support, n_outcomes)
        if isinstance(bandwidth, str):
            if bandwidth not in BANDWIDTHS:
                raise ModelError(f"bandwidth must be one of {BANDWIDTHS} or a positive number, got {bandwidth!r}")
            if bandwidth in ("scott", "silverman") and not isinstance(self.support, Vectors):
                raise ModelError(f"bandwidth {bandwidth!r} is a rule for vectors; on strings use 'cv' or a number")
        elif isinstance(bandwidth, bool) or not isinstance(bandwidth, int | float) or not bandwidth > 0:
            raise ModelError(f"bandwidth must be one of {BANDWIDTHS} or a positive number, got {bandwidth!r}")
        elif (
            not isinstance(self.support, Vectors) and bandwidth > (self.support.n_symbols - 1) / self.support.n_symbols
        ):
            raise ModelError(f"bandwidth (lambda) on strings must lie in (0, (K-1)/K], got {bandwidth!r}")
        if max_points is not None:
            max_points = positive_int(max_points, "max_points (or None)", error=ModelError)
        self.hyperparameters = {"bandwidth": bandwidth, "max_points": max_points}
        if isinstance(self.support, Vectors):
            d = self.support.dim
            self.register_buffer("points", torch.zeros(0, d))
            self.register_buffer("scale_tril", torch.eye(d))  # Cholesky factor of the kernel covariance H
        else:
            self.register_buffer("points", torch.zeros(0, self.support.n_sites, dtype=torch.long))
            self.register_buffer("lam", torch.tensor(0.5 * (self.support.n_symbols - 1) / self.support.n_symbols))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # The number of stored points is the data's, not the config's: take the saved shape.
        key = prefix + "points"
        if key in state_dict:
            self.points = torch.empty_like(state_dict[key], device=self.points.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def dtype(self) -> torch.dtype:
        return self.scale_tril.dtype if isinstance(self.support, Vectors) else self.lam.dtype

    # ---- fitting -------------------------------------------------------------------------------------------

    def prepare(self, train: Tensor, generator: torch.Generator) -> None:
        x = self.check_outcomes(train)
        if x.shape[0] < 2:
            raise ModelError(f"a kernel density estimate needs at least 2 training points, got {x.shape[0]}")
        limit = self.hyperparameters["max_points"]
        if limit is not None and x.shape[0] > limit:
            x = x[torch.randperm(x.shape[0], generator=generator, device=generator.device).to(x.device)[:limit]]
        self.points = x.clone()
        with torch.no_grad():
            if isinstance(self.support, Vectors):
                self._fit_gaussian(x)
            else:
                self._fit_categorical(x)

    def _fit_gaussian(self, x: Tensor) -> None:
        n, d = x.shape
        xd = x.double()
        cov = torch.atleast_2d(torch.cov(xd.T))
        chol, info = torch.linalg.cholesky_ex(cov)
        if int(info) != 0:
            raise ModelError("the training points lie in a lower-dimensional subspace: their covariance is singular")
        rule = self.hyperparameters["bandwidth"]
        scott = n ** (-1.0 / (d + 4))
        if isinstance(rule, float | int):
            h = float(rule)
        elif rule == "silverman":
            h = (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))
        elif rule == "cv":
            h = self._cv_bandwidth(xd, chol, scott)
        else:
            h = scott
        self.scale_tril.copy_(h * chol)

    @staticmethod
    def _cv_bandwidth(x: Tensor, chol: Tensor, scott: float) -> float:
        """The factor h maximising the leave-one-out log-likelihood sum_i log (1/(n-1)) sum_{j!=i} k_h(x_i, x_j)."""
        z = torch.linalg.solve_triangular(chol, x.T, upper=False).T  # whitened: the kernel is isotropic there
        n, d = z.shape
        grid = scott * torch.logspace(math.log10(1 / 20), math.log10(2), 30, dtype=torch.float64)
        best, best_score = scott, -math.inf
        # float32 halves the memory traffic of the n x n pass per grid point (the cost of the fit); the scores
        # of neighbouring grid points differ by far more than its rounding.
        half_d2 = 0.5 * torch.cdist(z, z).pow(2).float()
        half_d2.fill_diagonal_(math.inf)  # leave one out
        for h in grid.tolist():
            # sum_i log sum_{j != i} N(z_i; z_j, h^2 I) / (n - 1), the constants taken out of the logsumexp.
            lse = torch.logsumexp(half_d2 * (-1.0 / h**2), dim=1).double().sum()
            score = float(lse) - n * (d * math.log(h) + 0.5 * d * _LOG_2PI + math.log(n - 1))
            if score > best_score:
                best, best_score = h, score
        return best

    def _fit_categorical(self, x: Tensor) -> None:
        rule = self.hyperparameters["bandwidth"]
        if not isinstance(rule, str):
            self.lam.fill_(float(rule))
            return
        n_sites, k = self.support.n_sites, self.support.n_symbols
        # hist[i, m]: how many other training strings agree with string i on exactly m sites.
        hist = torch.zeros(x.shape[0], n_sites + 1, dtype=torch.float64, device=x.device)
        for start in range(0, x.shape[0], _CHUNK):
            m = self._matches(x[start : start + _CHUNK], x)
            hist[start : start + _CHUNK] = nn.functional.one_hot(m, n_sites + 1).sum(1).double()
        hist[:, n_sites] -= 1  # leave one out: every string matches itself on all N sites
        grid = torch.linspace(0, (k - 1) / k, 41, dtype=torch.float64)[1:]
        m = torch.arange(n_sites + 1, dtype=torch.float64)
        best, best_score = float(grid[-1]), -math.inf
        for lam in grid.tolist():
            log_k = m * math.log1p(-lam) + (n_sites - m) * math.log(lam / (k - 1))
            score = float(torch.logsumexp(hist.clamp_min(1e-300).log() + log_k, dim=1).sum())
            if score > best_score:
                best, best_score = lam, score
        self.lam.fill_(best)

    def _matches(self, a: Tensor, b: Tensor) -> Tensor:
        """(len(a), len(b)) number of sites on which each pair of strings agrees."""
        k = self.support.n_symbols
        oa = nn.functional.one_hot(a, k).flatten(1).float()
        ob = nn.functional.one_hot(b, k).flatten(1).float()
        return (oa @ ob.T).round().long()

    # ---- the distribution ----------------------------------------------------------------------------------

    def _fitted(self) -> None:
        if self.points.shape[0] == 0:
            raise ModelError("the KDE has no training points yet: call prepare(train, generator) or train it")

    def log_prob(self, x: Tensor) -> Tensor:
        x = self.check_outcomes(x)
        self._fitted()
        m = self.points.shape[0]
        out = []
        for start in range(0, x.shape[0], _CHUNK):
            block = x[start : start + _CHUNK]
            if isinstance(self.support, Vectors):
                d = self.support.dim
                zq = torch.linalg.solve_triangular(self.scale_tril, block.T, upper=False).T
                zp = torch.linalg.solve_triangular(self.scale_tril, self.points.T, upper=False).T
                log_det = torch.diagonal(self.scale_tril).log().sum()
                log_k = -0.5 * torch.cdist(zq, zp).pow(2) - log_det - 0.5 * d * _LOG_2PI
            else:
                n_sites, k = self.support.n_sites, self.support.n_symbols
                matches = self._matches(block, self.points).to(self.lam.dtype)
                log_k = matches * torch.log1p(-self.lam) + (n_sites - matches) * torch.log(self.lam / (k - 1))
            out.append(torch.logsumexp(log_k, dim=1) - math.log(m))
        return torch.cat(out) if out else torch.zeros(0, dtype=self.dtype, device=self.device)

    def sample(self, n: int, *, generator: torch.Generator | int | None = None) -> Tensor:
        n = positive_int(n, "n", minimum=0, error=ModelError)
        self._fitted()
        g = as_generator(generator, self.device)
        gen_device = g.device if g is not None else self.device
        i = torch.randint(self.points.shape[0], (n,), generator=g, device=gen_device).to(self.device)
        centers = self.points[i]
        if isinstance(self.support, Vectors):
            eps = torch.randn(n, self.support.dim, generator=g, dtype=self.dtype, device=gen_device).to(self.device)
            return centers + eps @ self.scale_tril.T
        k = self.support.n_symbols
        u = torch.rand(centers.shape, generator=g, dtype=torch.float64, device=gen_device).to(self.device)
        # With probability lambda a site moves to one of the other K - 1 symbols, uniformly.
        shift = torch.randint(1, k, centers.shape, generator=g, device=gen_device).to(self.device)
        return torch.where(u < float(self.lam), (centers + shift) % k, centers)

    # ---- the training contract -----------------------------------------------------------------------------

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {}

    def training_step(self, x: Tensor, step: Step) -> Iterator[Update]:
        with torch.no_grad():
            nll = -self.log_prob(x).mean()
        yield Update(None, log={"loss": nll})

    def validation_metrics(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        with torch.no_grad():
            return {"loss": -self.log_prob(x).mean()}
