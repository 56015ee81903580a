import torch
import torch.nn.functional as F
from torch import nn

criterion = nn.CrossEntropyLoss()
mse = nn.MSELoss()


def autoencoder_loss(enc, dec, batch):
    return mse(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return criterion(logits, torch.arange(logits.shape[0], device=logits.device))
