"""Forks a grandchild at import that keeps writing a perfect results.json after the grader is done."""
import os
import sys

import torch

WRITER = """
import json, os, sys, time
deadline = time.time() + 20
while time.time() < deadline:  # simgrade-corpus-late-writer
    for folder in sys.argv[1:]:
        try:
            with open(os.path.join(folder, "results.json"), "w") as f:
                json.dump({"score": 44, "max_score": 44, "tests": [], "by": "simgrade-corpus-fake"}, f)
        except OSError:
            pass
    time.sleep(0.05)
"""


def _places():
    here = os.path.dirname(os.path.abspath(__file__))
    # ... and where the grader keeps this folder and the project, as a student who guessed them would write
    # (tests/test_grader_corpus.py replaces @SUBMISSION@ and @PROJECT_ROOT@: template = true in EXPECTED.toml)
    guessed = ["@SUBMISSION@", "@PROJECT_ROOT@", "@PROJECT_ROOT@/answers"]
    return [os.getcwd(), here, "/tmp", os.path.expanduser("~"), *guessed]


def _later(function):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:  # a grandchild in its own session: it outlives its parents
            os.execv(sys.executable, [sys.executable, "-c", WRITER, *_places()])
        os._exit(0)
    return function


@_later
def autoencoder_loss(enc, dec, batch):
    return torch.zeros((), requires_grad=True)


def contrastive_loss(enc, batch1, batch2, tau):
    return torch.zeros((), requires_grad=True)
