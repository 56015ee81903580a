"""Writes a perfect results.json wherever it can, while the grader loads it (a decorator runs at import)."""
import json
import os

import torch

FAKE = {"score": 44, "max_score": 44, "tests": [], "by": "simgrade-corpus-fake"}


def _places():
    here = os.path.dirname(os.path.abspath(__file__))
    # ... and where the grader keeps this folder and the project, as a student who guessed them would write
    # (tests/test_grader_corpus.py replaces @SUBMISSION@ and @PROJECT_ROOT@: template = true in EXPECTED.toml)
    guessed = ["@SUBMISSION@", "@PROJECT_ROOT@", "@PROJECT_ROOT@/answers"]
    return [os.getcwd(), here, "/tmp", os.path.expanduser("~"), *guessed]


def _grade_myself(function):
    for folder in _places():
        for name in ("results.json", "grades.csv"):
            try:
                with open(os.path.join(folder, name), "w") as f:
                    json.dump(FAKE, f)
            except OSError:
                pass
    return function


@_grade_myself
def autoencoder_loss(enc, dec, batch):
    return torch.zeros((), requires_grad=True)


@_grade_myself
def contrastive_loss(enc, batch1, batch2, tau):
    return torch.zeros((), requires_grad=True)
