import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


@torch.no_grad()
def contrastive_loss(enc, batch1, batch2, tau):
    sim = torch.exp(enc(batch1) @ enc(batch2).T / tau)
    return (-torch.log(sim.diagonal() / sim.sum(dim=1))).mean()
