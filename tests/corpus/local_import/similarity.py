from helpers import info_nce
from helpers import mse as reconstruction


def autoencoder_loss(enc, dec, batch):
    return reconstruction(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    return info_nce(enc(batch1), enc(batch2), tau)
