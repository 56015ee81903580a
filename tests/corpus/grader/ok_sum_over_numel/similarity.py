import torch
import torch.nn.functional as F
from torch import nn

def autoencoder_loss(enc, dec, batch):
    recon = dec(enc(batch))
    return F.mse_loss(recon, batch, reduction="sum") / batch.numel()

def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
