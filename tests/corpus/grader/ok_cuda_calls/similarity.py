import torch
import torch.nn.functional as F
from torch import nn


def autoencoder_loss(enc, dec, batch):
    batch = batch.cuda()
    recon = dec.cuda()(enc.cuda()(batch))
    return F.mse_loss(recon, batch)


def contrastive_loss(enc, batch1, batch2, tau):
    enc = enc.cuda()
    logits = enc(batch1.cuda()) @ enc(batch2.cuda()).T / tau
    labels = torch.arange(logits.shape[0]).cuda()
    return F.cross_entropy(logits, labels)
