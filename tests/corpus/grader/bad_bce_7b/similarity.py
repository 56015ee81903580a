import torch
import torch.nn.functional as F
from torch import nn


def autoencoder_loss(enc, dec, batch):
    logits = dec(enc(batch))
    return F.binary_cross_entropy_with_logits(logits, batch)


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
