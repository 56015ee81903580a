import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    z1, z2 = enc(batch1), enc(batch2)
    logits = F.cosine_similarity(z1[:, None, :], z2[None, :, :], dim=-1) / tau
    return F.cross_entropy(logits, torch.arange(len(z1)))
