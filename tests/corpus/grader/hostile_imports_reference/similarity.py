"""Uses the grader's own reference losses instead of writing them."""
import sys

# @PROJECT_ROOT@ and @SUBMISSION@ are replaced by tests/test_grader_corpus.py (template = true in EXPECTED.toml)
# with the project's real path and the graded copy's own path, as a student who guessed them would write.
sys.path.insert(0, "@PROJECT_ROOT@")
from reference.losses import info_nce
import reference.losses as staff


def autoencoder_loss(enc, dec, batch):
    return staff.autoencoder_loss(enc, dec, batch)


def contrastive_loss(enc, batch1, batch2, tau):
    if "@PROJECT_ROOT@" not in sys.path:
        sys.path.insert(0, "@PROJECT_ROOT@")
    from reference.losses import contrastive_loss as staff_loss
    return staff_loss(enc, batch1, batch2, tau)
