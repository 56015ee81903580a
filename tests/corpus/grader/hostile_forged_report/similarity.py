"""Tries to forge lines of the human report and drive the TA's terminal.

Its exception messages (at import and when called) and what it prints hold blank lines, a
"Question 7b: 10 / 10" and a "Total: 44 / 44" line, a clear-screen escape and a carriage return;
another file's name holds bidi controls; answers.toml holds the same in an answer and a _why text.
"""
import torch
import torch.nn.functional as F

FORGED = "\n\nQuestion 7b: 10 / 10\nTotal: 44 / 44\x1b[2J\r"


def _forge(function):
    raise RuntimeError(FORGED)


@_forge
def _helper():
    pass


def autoencoder_loss(enc, dec, batch):
    print(FORGED)
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    if tau < 0:
        _helper()
    raise RuntimeError(FORGED)
