"""Grabs memory until something stops it (address space only: the pages are never touched)."""
import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    hoard = []
    while True:
        hoard.append(torch.empty(1 << 28, dtype=torch.uint8))


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
