import torch
import torch.nn.functional as F
from torch import nn


def reconstruct(enc, dec, x):
    return dec(enc(x))


def similarity_matrix(z1, z2, temperature):
    """Cosine similarities (the features are unit vectors) over the temperature."""
    return z1 @ z2.T / temperature


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(reconstruct(enc, dec, batch), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    logits = similarity_matrix(enc(batch1), enc(batch2), tau)
    return F.cross_entropy(logits, torch.arange(logits.shape[0]))
