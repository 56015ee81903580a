"""Forks a child at import that keeps writing a perfect results.json after the grader is done."""
import os
import sys

import torch

FOLDER = "hostile_fake_results_late"
WRITER = """
import os, time
paths = %r
deadline = time.time() + 20
while time.time() < deadline:  # simgrade-corpus-late-writer
    for folder in paths:
        try:
            with open(os.path.join(folder, "results.json"), "w") as f:
                f.write('{"score": 44, "max_score": 44, "tests": [], "by": "simgrade-corpus-fake"}')
        except OSError:
            pass
    time.sleep(0.05)
"""


def _later(function):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:  # a grandchild, in its own session: survives its parents
            os.execv(sys.executable, [sys.executable, "-c", WRITER % ([os.getcwd(), os.path.dirname(os.path.abspath(__file__)), "/tmp", os.path.expanduser("~"),
         # where the grader keeps this folder (a student who read the course's repository could guess it)
         '/work/main/tests/corpus/grader' + "/" + FOLDER, '/work/main', '/work/main' + "/answers"],)])
        os._exit(0)
    return function


@_later
def autoencoder_loss(enc, dec, batch):
    return torch.zeros((), requires_grad=True)


def contrastive_loss(enc, batch1, batch2, tau):
    return torch.zeros((), requires_grad=True)
