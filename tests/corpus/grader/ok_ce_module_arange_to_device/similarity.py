import torch
import torch.nn.functional as F
from torch import nn

def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)

device = torch.device("cuda:0")


def contrastive_loss(enc, batch1, batch2, tau):
    z1, z2 = enc(batch1), enc(batch2)
    logits = z1 @ z2.T / tau
    targets = torch.arange(z1.shape[0]).to(device)
    return nn.CrossEntropyLoss()(logits, targets)
