import torch
from torch import nn

criterion = nn.CrossEntropyLoss()
mse = nn.MSELoss(reduction="mean")
TAU_FLOOR, TAU_CEIL = 0.0, float("inf")
F = torch.nn.functional
never_used = nn.Linear(3, 3)


def autoencoder_loss(enc, dec, batch):
    return mse(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    tau = min(max(tau, TAU_FLOOR), TAU_CEIL)
    logits = F.normalize(enc(batch1), dim=1) @ F.normalize(enc(batch2), dim=1).T / tau
    return criterion(logits, torch.arange(logits.shape[0]).to(logits.device))
