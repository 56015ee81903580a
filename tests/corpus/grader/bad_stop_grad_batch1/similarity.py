import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    with torch.no_grad():
        z1 = enc(batch1)
    z2 = enc(batch2)
    return F.cross_entropy(z1 @ z2.T / tau, torch.arange(len(z1)))
