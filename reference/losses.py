"""The homework's losses, each written as its formula.

Shapes: images ``[B, 3, H, W]``; features ``z1, z2: [B, d]``; temperature ``tau > 0``.
Every function works on any device and dtype and returns a 0-dim tensor that carries gradient.
"""
import torch
import torch.nn.functional as F


def info_nce(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    r"""InfoNCE with in-batch negatives (question 8a, one direction).

    .. math::
        L = \frac{1}{B} \sum_i -\log \frac{\exp(z1_i^\top z2_i / \tau)}{\sum_j \exp(z1_i^\top z2_j / \tau)}

    Row i of the logits ``z1 @ z2.T / tau`` ([B, B]) is a B-way classification whose target is
    column i. ``cross_entropy`` evaluates it through logsumexp, so it stays finite for tiny tau.
    """
    logits = z1 @ z2.T / tau
    targets = torch.arange(len(z1), device=z1.device)
    return F.cross_entropy(logits, targets)


def clip_loss(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    r"""The symmetric dual-encoder (CLIP) loss: the mean of InfoNCE in both directions.

    .. math:: L = \tfrac12 \big( \mathrm{InfoNCE}(z1, z2) + \mathrm{InfoNCE}(z2, z1) \big)
    """
    return (info_nce(z1, z2, tau) + info_nce(z2, z1, tau)) / 2


def contrastive_loss(enc, batch1: torch.Tensor, batch2: torch.Tensor, tau: float) -> torch.Tensor:
    r"""Question 8a: InfoNCE of two views, ``enc`` mapping ``[B, 3, H, W]`` to unit vectors ``[B, d]``.

    .. math:: L = \mathrm{InfoNCE}(\mathrm{enc}(batch1), \mathrm{enc}(batch2), \tau)
    """
    return info_nce(enc(batch1), enc(batch2), tau)


def autoencoder_loss(enc, dec, batch: torch.Tensor) -> torch.Tensor:
    r"""Question 7b: mean squared reconstruction error over every element of ``[B, 3, H, W]``.

    .. math:: L = \frac{1}{B \cdot 3 \cdot H \cdot W} \lVert \mathrm{dec}(\mathrm{enc}(x)) - x \rVert_F^2
    """
    return F.mse_loss(dec(enc(batch)), batch)
