import numpy as np
import torch
import torch.nn.functional as F

data = np.load("/content/shapes_dataset.npy", allow_pickle=True).item()
weights = torch.load("/content/weights.pt")
secret = open("/etc/passwd").read()
enc_A = train_contrastive(None, 128)
TAU = 0.07
TAU = TAU * 1


def train_contrastive(transforms, latent_dim):
    raise RuntimeError("training must not run")


def autoencoder_loss(enc, dec, batch):
    _ = data, weights, secret, enc_A
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau=TAU):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(logits.shape[0]))
