"""Written for a Colab GPU: literal 'cuda' devices everywhere."""
import torch
from torch import nn


def autoencoder_loss(enc, dec, batch):
    batch = batch.to("cuda:0")
    return nn.MSELoss().cuda()(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    z1, z2 = enc(batch1.cuda()), enc(batch2.to(device="cuda"))
    labels = torch.arange(len(z1), device="cuda")
    return nn.functional.cross_entropy(z1 @ z2.T / tau, labels)
