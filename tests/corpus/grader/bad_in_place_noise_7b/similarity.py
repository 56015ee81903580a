import torch
import torch.nn.functional as F
from torch import nn

def autoencoder_loss(enc, dec, batch):
    recon = dec(enc(batch))
    loss = F.mse_loss(recon, batch)
    batch.clamp_(0, 1)
    return loss

def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
