import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    z = torch.cat([enc(batch1), enc(batch2)])
    n = len(batch1)
    sim = (z @ z.T / tau).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    total = F.cross_entropy(sim, (torch.arange(2 * n) + n) % (2 * n), reduction="sum")
    return total / (2 * n - 2)  # "each view has 2N - 2 negatives"
