import torch
import torch.nn.functional as F


@torch.jit.script
def info_nce(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    logits = z1 @ z2.t() / tau
    targets = torch.arange(z1.size(0), device=z1.device)
    return F.cross_entropy(logits, targets)


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch, reduction="none").mean()


def contrastive_loss(enc, batch1, batch2, tau):
    return info_nce(enc(batch1), enc(batch2), tau)
