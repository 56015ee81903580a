import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    z1, z2 = enc(batch1), enc(batch2)
    distance = 1 - z1 @ z2.T  # cosine distance; the softmax ignores the constant
    return F.cross_entropy(-distance / tau, torch.arange(len(z1)))
