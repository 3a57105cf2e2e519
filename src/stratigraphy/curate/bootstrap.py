"""Online label correction: a loss that bootstraps toward the model's own prediction in
proportion to each example's probability of being mislabeled (Arazo et al. 2019, dynamic hard
bootstrapping), with that probability estimated either from the probe suites (MAP-D) or from a
two-component Beta mixture over all losses (Arazo's own estimate).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import beta as beta_dist
from scipy.stats import norm

EPS = 1e-3


def bootstrap_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    p_noisy: torch.Tensor,
    target: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-example (1 − p)·CE(given label) + p·CE(target), the target kept fixed: by default the
    model's own argmax (Arazo et al.'s hard bootstrapping); pass ``target`` (class indices) to
    bootstrap toward something better, such as :func:`peer_targets` of two networks."""
    logp = F.log_softmax(logits, dim=1)
    ce_given = -logp.gather(1, labels[:, None]).squeeze(1)
    toward = logits.detach().argmax(1) if target is None else target.to(labels.device)
    ce_pred = -logp.gather(1, toward[:, None]).squeeze(1)
    w = p_noisy.to(logits.dtype).clamp(0.0, 1.0)
    return (1.0 - w) * ce_given + w * ce_pred


def peer_targets(*logits: torch.Tensor) -> torch.Tensor:
    """Argmax of the mean softmax of several networks on the same batch: the bootstrapping
    target for co-bootstrapping, where each network learns toward the ensemble's prediction
    instead of its own, so one network's mistakes are not confirmed by itself."""
    if not logits:
        raise ValueError("peer_targets needs the logits of at least one network.")
    with torch.no_grad():
        return torch.stack([F.softmax(lg, dim=1) for lg in logits]).mean(0).argmax(1)


def _normalise(loss: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((loss - lo) / max(hi - lo, 1e-12), EPS, 1 - EPS)


class BetaMixture:
    """Two Beta components over losses scaled to (0, 1), fitted by EM with weighted moments;
    the component with the larger mean is the noisy one (Arazo et al. 2019)."""

    def __init__(self, iterations: int = 10) -> None:
        self.iterations = iterations
        self.alphas = np.array([1.0, 2.0])
        self.betas = np.array([2.0, 1.0])
        self.weights = np.array([0.5, 0.5])
        self.lo, self.hi = 0.0, 1.0

    def fit(self, loss: np.ndarray) -> BetaMixture:
        loss = np.asarray(loss, dtype=np.float64)
        loss = loss[np.isfinite(loss)]
        self.lo, self.hi = np.percentile(loss, [5, 95])
        # As in Arazo et al.'s code: fit on the losses between the 5th and 95th percentiles,
        # discarding (not clipping) the rest, so no mass piles up at the interval's ends.
        x = _normalise(loss[(loss >= self.lo) & (loss <= self.hi)], self.lo, self.hi)
        for _ in range(self.iterations):
            r = self._responsibilities(x)
            for j in range(2):
                w = r[:, j]
                total = max(w.sum(), 1e-12)
                mean = (w * x).sum() / total
                var = max((w * (x - mean) ** 2).sum() / total, 1e-6)
                common = max(mean * (1 - mean) / var - 1, 1e-3)
                self.alphas[j], self.betas[j] = common * mean, common * (1 - mean)
                self.weights[j] = total / x.size
        return self

    def _responsibilities(self, x: np.ndarray) -> np.ndarray:
        dens = np.stack(
            [self.weights[j] * beta_dist.pdf(x, self.alphas[j], self.betas[j]) for j in range(2)],
            axis=1,
        )
        dens = np.nan_to_num(dens, nan=0.0, posinf=1e300) + 1e-300
        return dens / dens.sum(1, keepdims=True)

    def posterior_noisy(self, loss: np.ndarray) -> np.ndarray:
        """Probability that each loss belongs to the high-loss component."""
        x = _normalise(np.asarray(loss, dtype=np.float64), self.lo, self.hi)
        noisy = int(np.argmax(self.alphas / (self.alphas + self.betas)))
        return self._responsibilities(x)[:, noisy].astype(np.float32)


class ProbeNoiseEstimator:
    """p(mislabeled | loss) from the probes: Gaussians on log-loss fitted to the mislabeled probes
    and to the correctly labelled probes give the two component densities; only their mixing
    weight is fitted to the data (EM on one number), so the estimate follows the data's noise rate
    while the probes say what noise looks like at this point of training."""

    def __init__(self, iterations: int = 50) -> None:
        self.iterations = iterations
        self.prior = 0.5
        self.noisy = (0.0, 1.0)
        self.clean = (0.0, 1.0)

    def fit(
        self, mislabeled_loss: np.ndarray, clean_loss: np.ndarray, data_loss: np.ndarray
    ) -> ProbeNoiseEstimator:
        def gauss(v: np.ndarray) -> tuple[float, float]:
            z = np.log(np.asarray(v, dtype=np.float64) + EPS)
            return float(z.mean()), float(max(z.std(), 0.05))

        self.noisy, self.clean = gauss(mislabeled_loss), gauss(clean_loss)
        f_noisy, f_clean = self._densities(data_loss)
        prior = 0.5
        for _ in range(self.iterations):
            post = prior * f_noisy / (prior * f_noisy + (1 - prior) * f_clean + 1e-300)
            prior = float(np.clip(post.mean(), 1e-3, 0.999))
        self.prior = prior
        return self

    def _densities(self, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = np.log(np.asarray(loss, dtype=np.float64) + EPS)
        return norm.pdf(z, *self.noisy), norm.pdf(z, *self.clean)

    def posterior_noisy(self, loss: np.ndarray) -> np.ndarray:
        f_noisy, f_clean = self._densities(loss)
        num = self.prior * f_noisy
        return (num / (num + (1 - self.prior) * f_clean + 1e-300)).astype(np.float32)


def mixup_bootstrap_step(
    model: torch.nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    p_noisy: torch.Tensor,
    rng: np.random.Generator,
    alpha: float = 32.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Arazo et al.'s M-DYR-H: bootstrapping on mixed-up inputs. Returns the mean loss to
    back-propagate and the per-example cross-entropy of the unmixed inputs (for the next
    epoch's p(noisy)). Costs one extra forward pass without gradients per batch."""
    with torch.no_grad():
        clean_logits = model(x)
        ce = F.cross_entropy(clean_logits, labels, reduction="none")
        pred = clean_logits.argmax(1)
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(x.shape[0]))
    logp = F.log_softmax(model(lam * x + (1 - lam) * x[perm]), dim=1)
    w = p_noisy.to(logp.dtype).clamp(0.0, 1.0)

    def target_loss(idx: torch.Tensor) -> torch.Tensor:
        ce_given = -logp.gather(1, labels[idx, None]).squeeze(1)
        ce_pred = -logp.gather(1, pred[idx, None]).squeeze(1)
        return (1.0 - w[idx]) * ce_given + w[idx] * ce_pred

    loss = lam * target_loss(torch.arange(x.shape[0])) + (1 - lam) * target_loss(perm)
    return loss.mean(), ce
