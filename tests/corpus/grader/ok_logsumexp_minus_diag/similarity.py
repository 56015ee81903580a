import torch


def autoencoder_loss(enc, dec, batch):
    return torch.linalg.norm(dec(enc(batch)) - batch) ** 2 / batch.numel()


def contrastive_loss(enc, batch1, batch2, tau):
    logits = torch.mm(enc(batch1), enc(batch2).t()).div(tau)
    return (torch.logsumexp(logits, dim=1) - torch.diagonal(logits)).mean()
