import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    logits = -torch.cdist(enc(batch1), enc(batch2)) / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
