import torch
import torch.nn.functional as F

autoencoder_loss = lambda enc, dec, batch: F.mse_loss(dec(enc(batch)), batch)
contrastive_loss = lambda enc, batch1, batch2, tau: F.cross_entropy(
    enc(batch1) @ enc(batch2).T / tau, torch.arange(len(batch1)))
