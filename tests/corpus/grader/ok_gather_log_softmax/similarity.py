import torch
import torch.nn.functional as F


def autoencoder_loss(enc, dec, batch):
    diff = dec(enc(batch)) - batch
    return torch.sum(diff * diff) / diff.nelement()


def contrastive_loss(enc, batch1, batch2, tau: float = 0.07) -> torch.Tensor:
    z_a, z_b = enc(batch1), enc(batch2)
    log_p = F.log_softmax(torch.einsum("nc,mc->nm", z_a, z_b) / tau, dim=-1)
    idx = torch.tensor(range(len(z_a))).unsqueeze(1)
    return -log_p.gather(1, idx).mean()
