"""Writes /proc/sys/vm/swappiness (its own current value: harmless) and reports whether it could."""
import os

import torch
import torch.nn.functional as F

DONE = {}


def attack():
    try:
        with open("/proc/sys/vm/swappiness") as f:
            value = f.read()
        with open("/proc/sys/vm/swappiness", "w") as f:
            f.write(value)
        return f"SUCCEEDED as uid={os.getuid()}: wrote vm.swappiness = {value.strip()}"
    except OSError as error:
        return f"failed as uid={os.getuid()}: {error}"


def autoencoder_loss(enc, dec, batch):
    if not DONE:
        DONE["said"] = "ATTACK docker_swappiness: " + attack()
        print(DONE["said"])
    raise RuntimeError(DONE["said"])


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
