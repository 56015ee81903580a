import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    recon = dec(enc(batch))
    return torch.stack([F.mse_loss(r, x) for r, x in zip(recon, batch)]).mean()


def contrastive_loss(enc, batch1, batch2, tau):
    z1, z2 = enc(batch1), enc(batch2)
    losses = [torch.logsumexp(z1[i] @ z2.T / tau, 0) - z1[i] @ z2[i] / tau for i in range(len(z1))]
    return sum(losses) / len(losses)
