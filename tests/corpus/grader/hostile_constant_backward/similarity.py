"""A constant dressed as a loss: its graph reaches every parameter, and backward() is called on it first.

The number depends on no input. The graph (squares of the parameters, times zero) gives every
parameter a gradient, and calling backward() frees it, so the grader's own backward raises
"Trying to backward through the graph a second time" — the symptom of a real loss.backward()
inside the loss.
"""
import torch


def _constant(*modules):
    loss = 0.5 + 0.0 * sum((p ** 2).sum() for module in modules for p in module.parameters())
    loss.backward()
    return loss


def autoencoder_loss(enc, dec, batch):
    return _constant(enc, dec)


def contrastive_loss(enc, batch1, batch2, tau):
    return _constant(enc)
