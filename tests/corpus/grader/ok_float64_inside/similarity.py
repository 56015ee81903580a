import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    x = batch.double()
    recon = dec(enc(batch)).double()
    return ((recon - x) ** 2).mean().to(batch.dtype)


def contrastive_loss(enc, batch1, batch2, tau):
    z1, z2 = enc(batch1).to(torch.float64), enc(batch2).to(torch.float64)
    loss = F.cross_entropy(z1 @ z2.T / tau, torch.arange(len(z1)))
    return loss.float() if batch1.dtype == torch.float32 else loss
