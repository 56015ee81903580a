import torch
import torch.nn.functional as F


def contrastive_loss(enc, batch1, batch2, tau):
    return torch.tensor(-1.0)


def contrastive_loss(enc, batch1, batch2, tau):  # the later definition wins
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(logits.shape[0]))
