"""A handout submission whose losses call helpers and module-level constants."""
import torch
import torch.nn.functional as F

EPS = 1e-12
SCALE = 1.0 / 1.0


def reconstruction_error(x, y):
    """Mean squared error."""
    return ((x - y) ** 2).mean() * SCALE


def info_nce(z1, z2, tau):
    logits = z1 @ z2.T / tau
    return F.cross_entropy(logits, torch.arange(len(z1), device=z1.device))


def unused_helper():
    return open("/etc/passwd").read()


def autoencoder_loss(enc, dec, batch):
    return reconstruction_error(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    return info_nce(enc(batch1), enc(batch2), tau)


print("training...")
for step in range(10**9):
    pass
