import torch
import torch.nn.functional as F

try:
    import einops
    HAVE_EINOPS = True
except ImportError:
    HAVE_EINOPS = False

try:
    import wandb
    USE_WANDB = True
except ImportError:
    USE_WANDB = False


def autoencoder_loss(enc, dec, batch):
    loss = F.mse_loss(dec(enc(batch)), batch)
    if USE_WANDB and wandb.run is not None:
        wandb.log({"ae_loss": loss.item()})
    return loss


def contrastive_loss(enc, batch1, batch2, tau):
    z1, z2 = enc(batch1), enc(batch2)
    if HAVE_EINOPS:
        logits = einops.einsum(z1, z2, "i d, j d -> i j") / tau
    else:
        logits = z1 @ z2.T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
