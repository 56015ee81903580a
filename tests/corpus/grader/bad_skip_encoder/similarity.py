import torch
import torch.nn.functional as F
from torch import nn

def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)

def contrastive_loss(enc, batch1, batch2, tau):
    x1, x2 = batch1.flatten(1), batch2.flatten(1)
    return F.cross_entropy(x1 @ x2.T / tau, torch.arange(len(x1)))
