import torch
import torch.nn.functional as F
from torch import nn

def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)

def contrastive_loss(enc, batch1, batch2, tau):
    z1, z2 = enc(batch1), enc(batch2)
    logits = -torch.cdist(z1, z2) ** 2 / (2 * tau)
    return F.cross_entropy(logits, torch.arange(len(z1)))
