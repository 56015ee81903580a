import torch
import torch.nn.functional as F

try:
    import wandb
except ImportError:
    wandb = None


def autoencoder_loss(enc, dec, batch):
    loss = F.mse_loss(dec(enc(batch)), batch)
    if wandb is not None and wandb.run is not None:
        wandb.log({"ae_loss": loss.item()})
    return loss


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
