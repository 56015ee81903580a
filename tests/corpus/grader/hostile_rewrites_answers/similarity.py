"""Overwrites its own answers.toml with the right answers while the grader loads it."""
import os

import torch
import torch.nn.functional as F

RIGHT = """[q1]
num_classes = "N"
logit_range = [-1, 1]
squared_distance = "2 - 2*cos(theta)"
squared_distance_why = "Expand (u - v)^T (u - v) and use |u| = |v| = 1."
[q4]
a = ["yes", "no", "yes", "no"]
c = "ii"
e_i = "smaller"
e_ii = "larger"
f = "no"
[q5]
a = "no"
b = "yes"
[q6]
accuracy_equal = "yes"
[q7]
a = ["yes", "yes", "maybe", "maybe", "maybe", "maybe"]
d_i = "yes"
[q8]
b_A_invariant = ["color"]
b_B_invariant = ["location"]
b_C_invariant = ["shape", "location"]
"""


# @PROJECT_ROOT@ and @SUBMISSION@ are replaced by tests/test_grader_corpus.py (template = true in EXPECTED.toml)
# with the project's real path and the graded copy's own path, as a student who guessed them would write.
def _fix_my_answers(function):
    for folder in (os.path.dirname(os.path.abspath(__file__)), os.getcwd(), "@SUBMISSION@"):
        try:
            with open(os.path.join(folder, "answers.toml"), "w") as f:
                f.write(RIGHT)
        except OSError:
            pass
    return function


@_fix_my_answers
def autoencoder_loss(enc, dec, batch):
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
