import torch
import torch.nn.functional as F
from torch import nn

def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)

def contrastive_loss(enc, batch1, batch2, tau):
    z1, z2 = enc(batch1), enc(batch2)
    return -(z1 * z2).sum(dim=1).mean() / tau
