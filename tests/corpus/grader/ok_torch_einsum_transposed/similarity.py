import torch
import torch.nn.functional as F
from torch import nn

def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)

def contrastive_loss(enc, batch1, batch2, tau):
    sim = torch.einsum("jd,id->ij", enc(batch2), enc(batch1))
    return F.cross_entropy(sim / tau, torch.arange(sim.size(0)))
