import torch
import torch.nn.functional as F

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def autoencoder_loss(enc, dec, batch):
    batch = batch.to(DEVICE)
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    batch1, batch2 = batch1.to(DEVICE), batch2.to(DEVICE)
    z1, z2 = enc(batch1), enc(batch2)
    logits = (z1 @ z2.T) / tau
    return F.nll_loss(torch.log_softmax(logits, dim=1), torch.arange(z1.size(0)).to(DEVICE))
