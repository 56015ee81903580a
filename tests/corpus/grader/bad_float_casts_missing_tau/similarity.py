import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    recon = dec(enc(batch.float()))
    return F.l1_loss(recon, batch.float())  # not the mean squared error


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1.float()) @ enc(batch2.float()).T  # tau forgotten
    return F.cross_entropy(logits, torch.arange(len(logits)))
