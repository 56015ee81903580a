import torch
import torch.nn.functional as F
from torch import nn


def autoencoder_loss(enc, batch):
    return F.mse_loss(enc(batch), batch)


def contrastive_loss(enc, batch1, batch2):
    logits = enc(batch1) @ enc(batch2).T / 0.07
    return F.cross_entropy(logits, torch.arange(len(logits)))
