from functools import partial

import torch
from torch import nn

_mse = partial(nn.functional.mse_loss, reduction="mean")


def autoencoder_loss(enc, dec, batch):
    recon = dec(enc(batch))
    return _mse(recon, batch.detach())


def contrastive_loss(enc, batch1, batch2, tau):
    z = enc(torch.cat((batch1, batch2), dim=0))
    z1, z2 = torch.split(z, len(batch1))
    logits = z1 @ z2.T
    logits /= tau
    return nn.functional.cross_entropy(logits, torch.arange(len(z1)).long())
