import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)
