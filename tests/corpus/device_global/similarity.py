import torch
import torch.nn.functional as F

device = torch.device('cuda:0')
assert torch.cuda.is_available()


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    labels = torch.arange(logits.shape[0]).to(device)
    return F.cross_entropy(logits, labels)
