import torch
from torch import nn
import torch.nn.functional as F


class InfoNCE(nn.Module):
    def __init__(self, temperature):
        super().__init__()
        self.temperature = temperature

    def forward(self, query, key):
        logits = query @ key.mT / self.temperature
        return F.cross_entropy(logits, torch.arange(query.shape[0], device=query.device))


class Reconstruction(nn.Module):
    def forward(self, recon, target):
        return (recon - target).square().mean()


def autoencoder_loss(enc, dec, batch):
    return Reconstruction()(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    return InfoNCE(temperature=tau)(enc(batch1), enc(batch2))
