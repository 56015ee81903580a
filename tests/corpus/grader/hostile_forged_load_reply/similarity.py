"""While the grader loads it, answers the load request itself, with fields of the wrong types, then dies."""
import io
import json
import os
import socket
import stat
import struct

import torch
import torch.nn.functional as F


def _forge(function):
    header = json.dumps({"ok": True, "status": 7, "notes": 5, "found": 3, "error": ["x"], "arrays": []}).encode()
    frame = struct.pack("<I", len(header)) + header
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                socket.socket(fileno=os.dup(fd)).sendall(frame)
        except OSError:
            pass
    os._exit(0)


@_forge
def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
