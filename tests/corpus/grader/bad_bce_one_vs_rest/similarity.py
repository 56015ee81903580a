import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.binary_cross_entropy_with_logits(logits, torch.eye(len(logits)))
