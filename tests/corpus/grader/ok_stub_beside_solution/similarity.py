"""The functions the grader runs (questions 7b and 8a).

Fill in the functions below where it says FIXME and keep their names and signatures.
The grader imports this file and calls the functions with its own networks, batches and
values, on a CPU: keep training, data loading, plotting and printing out of this file.
"""
import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch: torch.Tensor) -> torch.Tensor:
    """Question 7b: the autoencoder's reconstruction loss.

    Args:
        enc: the encoder, a module mapping images ``[B, 3, H, W]`` to features ``[B, d]``.
        dec: the decoder, a module mapping features ``[B, d]`` back to images ``[B, 3, H, W]``.
        batch: a float tensor of images ``[B, 3, H, W]``; do not modify it in place.

    Returns:
        The mean squared reconstruction error between ``dec(enc(batch))`` and ``batch``,
        averaged over every element (what ``F.mse_loss`` returns with its default reduction):
        a 0-dim tensor that carries gradient to the parameters of ``enc`` and ``dec``.
    """
    raise NotImplementedError("FIXME: question 7b, write autoencoder_loss")


def contrastive_loss(enc, batch1: torch.Tensor, batch2: torch.Tensor, tau: float) -> torch.Tensor:
    """Question 8a: the InfoNCE loss with in-batch negatives.

    Args:
        enc: the encoder, a module mapping images ``[B, 3, H, W]`` to unit vectors ``[B, d]``.
        batch1: a float tensor ``[B, 3, H, W]``, one view of each of B images.
        batch2: a float tensor ``[B, 3, H, W]``, another view of the same B images, in the same
            order (row i of ``batch2`` is the positive of row i of ``batch1``).
        tau: the temperature, a float > 0 (0.07 in the course; it may be as small as 0.01).
        Do not modify the inputs in place.

    Returns:
        With logits = ``enc(batch1) @ enc(batch2).T / tau`` (``[B, B]``), row i's target is
        column i: the cross-entropy of every row, averaged over the B rows. A 0-dim tensor that
        carries gradient to the parameters of ``enc``; it must stay finite for small ``tau``.
    """
    raise NotImplementedError("FIXME: question 8a, write contrastive_loss")
