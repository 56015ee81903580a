import torch
import torch.nn.functional as F
from torch import nn

def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)

def contrastive_loss(enc, batch1, batch2, tau):
    z1, z2 = enc(batch1), enc(batch2)
    total = 0
    for i in range(len(z1)):
        row = (z2 @ z1[i]) / tau
        total = total - (row[i] - torch.logsumexp(row, dim=0))
    return total / len(z1)
