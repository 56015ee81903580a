"""Writes its own reply frame on the sandbox's socket, with fields of the wrong types, then dies.

The frame follows the sandbox protocol (u32 length, JSON, then u64 length + .npy per array), which
anyone can read in the sandbox's own files: a runner is the student's process, so every reply it
sends is untrusted data, not only the numbers in it.
"""
import io
import json
import os
import socket
import stat
import struct

import numpy as np
import torch.nn.functional as F


def _forge(message, arrays):
    header = json.dumps({**message, "arrays": list(arrays)}).encode()
    parts = [struct.pack("<I", len(header)), header]
    for array in arrays.values():
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        parts += [struct.pack("<Q", len(buffer.getvalue())), buffer.getvalue()]
    frame = b"".join(parts)
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                socket.socket(fileno=os.dup(fd)).sendall(frame)
        except OSError:
            pass
    os._exit(0)


def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    _forge({"status": "ok", "kind": "tensor", "type": ["not", "a", "name"], "subclass": "no", "shape": 5,
            "dtype": None, "requires_grad": "yes", "no_grad": 7, "changed_inputs": 7, "error": {"x": 1},
            "where": 3, "backward_error": 12},
           {"value": np.array(0.5), "grad:enc.net.1.weight": np.zeros(3)})
