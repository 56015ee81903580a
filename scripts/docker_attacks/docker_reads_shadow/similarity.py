"""Reads /etc/shadow (root's only) and reports its first line's user."""
import os

import torch
import torch.nn.functional as F

DONE = {}


def attack():
    try:
        with open("/etc/shadow") as f:
            first = f.readline()
        return f"SUCCEEDED as uid={os.getuid()}: read /etc/shadow, first user {first.split(':')[0]!r}"
    except OSError as error:
        return f"failed as uid={os.getuid()}: {error}"


def autoencoder_loss(enc, dec, batch):
    if not DONE:
        DONE["said"] = "ATTACK docker_reads_shadow: " + attack()
        print(DONE["said"])
    raise RuntimeError(DONE["said"])


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
