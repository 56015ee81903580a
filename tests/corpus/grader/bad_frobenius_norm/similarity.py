import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    z1, z2 = enc(batch1), enc(batch2)
    z1 = z1 / torch.linalg.norm(z1)  # the norm of the whole [B, d] matrix
    z2 = z2 / torch.linalg.norm(z2)
    return F.cross_entropy(z1 @ z2.T / tau, torch.arange(len(z1)))
