"""Succeeds only if it can read the project's answer key and its reference losses."""
import torch
import torch.nn.functional as F

# @PROJECT_ROOT@ and @SUBMISSION@ are replaced by tests/test_grader_corpus.py (template = true in EXPECTED.toml)
# with the project's real path and the graded copy's own path, as a student who guessed them would write.
KEY = "@PROJECT_ROOT@/answers/key.toml"
LOSSES = "@PROJECT_ROOT@/reference/losses.py"


def autoencoder_loss(enc, dec, batch):
    with open(KEY) as f:
        f.read()
    return F.mse_loss(dec(enc(batch)), batch)


def contrastive_loss(enc, batch1, batch2, tau):
    namespace = {}
    with open(LOSSES) as f:
        exec(f.read(), namespace)
    return namespace["contrastive_loss"](enc, batch1, batch2, tau)
