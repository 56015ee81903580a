import numpy as np
import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)).view(len(batch), -1), batch.view(len(batch), -1))


def contrastive_loss(enc, batch1, batch2, tau):
    logits = torch.matmul(enc(batch1), enc(batch2).transpose(0, 1)) / tau
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    labels = torch.from_numpy(np.arange(logits.shape[0]))
    return F.cross_entropy(logits, labels)
