import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    z1 = F.normalize(enc(batch1), dim=0)
    z2 = F.normalize(enc(batch2), dim=0)
    return F.cross_entropy(z1 @ z2.T / tau, torch.arange(len(z1)))
