"""Question 8a: the InfoNCE loss with in-batch negatives (the homework's contrastive loss).

Course content for simgrade (see docs/NEW_QUESTION.md): the function, its arguments, the reference,
the inputs, the points and the known mistakes. docs/MISTAKES.md explains each mistake for TAs.
"""
import torch
import torch.nn.functional as F

from reference.losses import clip_loss, contrastive_loss, info_nce
from simgrade.question import (SCALED, CodeQuestion, Encoder, Input, Mistake, Notebook, PositivePair, Scalar, Search,
                               Stress, not_finite_on)


def _logits(enc, b1, b2, tau):
    return enc(b1) @ enc(b2).T / tau


def _targets(n):
    return torch.arange(n)


def _positive_excluded(enc, b1, b2, tau):
    """-log( e^{l_ii} / sum_{j != i} e^{l_ij} ): the positive left out of the denominator (-inf at B = 1)."""
    logits = _logits(enc, b1, b2, tau)
    eye = torch.eye(len(logits), dtype=torch.bool)
    return (torch.logsumexp(logits.masked_fill(eye, float("-inf")), dim=1) - logits.diagonal()).mean()


def _nt_xent(enc, b1, b2, tau):
    """SimCLR's NT-Xent: 2B views, each one's positive is its other view, the other 2B - 2 views negatives."""
    z = torch.cat([enc(b1), enc(b2)])
    n = len(b1)
    sim = (z @ z.T / tau).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(sim, (torch.arange(2 * n) + n) % (2 * n))


STUB = '''\
def contrastive_loss(enc, batch1: torch.Tensor, batch2: torch.Tensor, tau: float) -> torch.Tensor:
    """Question 8a: the InfoNCE loss with in-batch negatives.

    Args:
        enc: the encoder, a module mapping images ``[B, 3, H, W]`` to unit vectors ``[B, d]``.
        batch1: a float tensor ``[B, 3, H, W]``, one view of each of B images.
        batch2: a float tensor ``[B, 3, H, W]``, another view of the same B images, in the same
            order (row i of ``batch2`` is the positive of row i of ``batch1``).
        tau: the temperature, a float > 0 (0.07 in the course; it may be as small as 0.01).
        Do not modify the inputs in place.

    Returns:
        With logits = ``enc(batch1) @ enc(batch2).T / tau`` (``[B, B]``), row i's target is
        column i: the cross-entropy of every row, averaged over the B rows. A 0-dim tensor that
        carries gradient to the parameters of ``enc``; it must stay finite for small ``tau``.
    """
    raise NotImplementedError("FIXME: question 8a, write contrastive_loss")
'''

QUESTION = CodeQuestion(
    question="8a",
    function="contrastive_loss",
    title="the InfoNCE loss with in-batch negatives",
    arguments=(Encoder("enc", unit=True), PositivePair("batch1", "batch2"), Scalar("tau", 0.01, 5.0, typical=0.07)),
    reference=contrastive_loss,
    points={"value": 5, "gradient": 2, "small_tau": 1, "form": 1, "inputs_untouched": 1},
    battery=(
        Input(2, 2, "float64", {"tau": 0.5}), Input(1, 4, "float64", {"tau": 0.5}), Input(3, 1, "float64", {"tau": 1.0}),
        Input(8, 4, "float64", {"tau": 0.1}), Input(17, 16, "float64", {"tau": 2.0}), Input(64, 8, "float64", {"tau": 0.07}),
        Input(5, 3, "float64", {"tau": 5.0}), Input(12, 6, "float64", {"tau": 0.05}),
        Input(2, 2, "float32", {"tau": 0.5}), Input(8, 4, "float32", {"tau": 0.1}), Input(33, 8, "float32", {"tau": 0.07}),
        Input(64, 16, "float32", {"tau": 1.0}), Input(4, 2, "float32", {"tau": 0.2}),
    ),
    search=Search(scalars={"tau": (1.0, 0.5, 2.0, 0.1, 5.0, 0.07, 0.05)}),
    stress=(Stress("small_tau", "finite and right at small tau",
                   "finite and right at tau 0.01-0.02 with well-aligned positive pairs",
                   inputs=(Input(8, 4, "float32", {"tau": 0.01}, aligned=True),
                           Input(16, 8, "float64", {"tau": 0.01}, aligned=True),
                           Input(8, 4, "float32", {"tau": 0.02}, aligned=True)),
                   tolerance=(1e-3, 1e-3)),),
    mistakes=(
        Mistake("missing temperature", "divide the logits by tau: enc(batch1) @ enc(batch2).T / tau",
                formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), 1.0)),
        Mistake("temperature multiplied instead of divided", "divide the logits by tau instead of multiplying",
                formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), 1.0 / tau)),
        Mistake("temperature applied twice", "divide the logits by tau once (not each feature, and not twice)",
                formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), tau * tau)),
        Mistake("doubled temperature", "divide the logits by tau, not by 2*tau",
                formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), 2 * tau)),
        Mistake("distance logits without the 1/2",
                "-||u-v||^2/(2*tau) equals u.v/tau up to a constant; -||u-v||^2/tau doubles the logits",
                formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), tau / 2)),
        Mistake("hard-coded temperature 0.07", "use the tau argument, not the constant 0.07",
                formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), 0.07)),
        Mistake("wrong targets (all zeros)", "the positive of row i is column i: targets = torch.arange(B)",
                formula=lambda enc, b1, b2, tau: F.cross_entropy(_logits(enc, b1, b2, tau),
                                                                 torch.zeros(len(b1), dtype=torch.long))),
        Mistake("the same batch twice", "compare the two views: enc(batch1) against enc(batch2)",
                formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b1), tau)),
        Mistake("swapped direction", "rows are batch1 and columns batch2: logits = enc(batch1) @ enc(batch2).T, "
                "and the softmax runs over each row (dim=1), not each column (dim=0)",
                formula=lambda enc, b1, b2, tau: info_nce(enc(b2), enc(b1), tau)),
        Mistake("symmetric (CLIP) loss", "the homework's loss is one-directional: cross-entropy over the rows only",
                formula=lambda enc, b1, b2, tau: clip_loss(enc(b1), enc(b2), tau)),
        Mistake("sum instead of mean", "average over the B rows (F.cross_entropy's default reduction='mean')",
                formula=lambda enc, b1, b2, tau: F.cross_entropy(_logits(enc, b1, b2, tau), _targets(len(b1)),
                                                                 reduction="sum")),
        Mistake("probabilities instead of log-probabilities",
                "cross-entropy takes -log of the softmax: use F.cross_entropy on the logits (or log_softmax + nll_loss)",
                formula=lambda enc, b1, b2, tau: -torch.softmax(_logits(enc, b1, b2, tau), dim=1).diagonal().mean()),
        Mistake("sign flipped", "minimise -log p(positive), i.e. return the cross-entropy itself, not its negative",
                formula=lambda enc, b1, b2, tau: -info_nce(enc(b1), enc(b2), tau)),
        Mistake("skipping the encoder", "compute the features with enc(batch1), enc(batch2), not on raw pixels",
                formula=lambda enc, b1, b2, tau: info_nce(b1.flatten(1), b2.flatten(1), tau)),
        Mistake("positive left out of the denominator",
                "the softmax runs over the whole row, positive included: F.cross_entropy(logits, torch.arange(B))",
                formula=_positive_excluded),
        Mistake("SimCLR (NT-Xent) loss over 2B views",
                "the homework's loss compares enc(batch1) with enc(batch2) only: logits = z1 @ z2.T / tau, [B, B], "
                "not the [2B, 2B] similarity of the concatenated views",
                formula=_nt_xent),
        Mistake("no negatives (positive logits only)",
                "subtract the log of the softmax's denominator: cross-entropy over each row, F.cross_entropy(logits, targets)",
                formula=lambda enc, b1, b2, tau: -(enc(b1) * enc(b2)).sum(dim=1).mean() / tau),
        Mistake("temperature divides the loss, not the logits",
                "divide the logits by tau before the cross-entropy: F.cross_entropy(z1 @ z2.T / tau, targets)",
                formula=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2), 1.0) / tau),
        Mistake("symmetric loss summed",
                "the homework's loss is one-directional: cross-entropy over the rows only (not rows plus columns)",
                formula=lambda enc, b1, b2, tau: 2 * clip_loss(enc(b1), enc(b2), tau)),
        Mistake("exp overflow", "exp(logits) overflows for small tau: use F.cross_entropy or logsumexp (subtract the row max)",
                symptom=not_finite_on("small_tau")),
        Mistake("targets shifted (torch.arange(B).roll(1))",
                "the positive of row i is column i itself: targets = torch.arange(B), not shifted",
                formula=lambda enc, b1, b2, tau: F.cross_entropy(_logits(enc, b1, b2, tau), _targets(len(b1)).roll(1))),
        Mistake("features normalised over the batch (dim=0)",
                "F.normalize works on each feature vector: dim=1 (or -1), not dim=0 across the batch",
                formula=lambda enc, b1, b2, tau: info_nce(F.normalize(enc(b1), dim=0), F.normalize(enc(b2), dim=0), tau)),
        Mistake("features divided by the Frobenius norm",
                "divide each row by its own norm (F.normalize(z, dim=1)), not the whole [B, d] matrix by z.norm()",
                formula=lambda enc, b1, b2, tau: info_nce(enc(b1) / enc(b1).norm(), enc(b2) / enc(b2).norm(), tau)),
        Mistake("binary cross-entropy per pair (one-vs-rest)",
                "the softmax runs over each row: F.cross_entropy(logits, torch.arange(B)), not a sigmoid per entry "
                "(F.binary_cross_entropy_with_logits against torch.eye(B))",
                formula=lambda enc, b1, b2, tau: F.binary_cross_entropy_with_logits(
                    _logits(enc, b1, b2, tau), torch.eye(len(b1), dtype=b1.dtype))),
        Mistake("label smoothing", "the targets are exact: F.cross_entropy(logits, targets) without label_smoothing",
                formula=lambda enc, b1, b2, tau: F.cross_entropy(_logits(enc, b1, b2, tau), _targets(len(b1)),
                                                                 label_smoothing=0.1)),
        Mistake("Euclidean distance logits (not squared)",
                "-||u-v||^2/(2*tau) equals u.v/tau up to a constant; -||u-v||/tau (cdist, not squared) is another loss",
                formula=lambda enc, b1, b2, tau: F.cross_entropy(-torch.cdist(enc(b1), enc(b2)) / tau, _targets(len(b1)))),
        Mistake("stop-gradient on batch2's features",
                "let the gradient flow through both views: no .detach() on enc(batch2)",
                gradient=lambda enc, b1, b2, tau: info_nce(enc(b1), enc(b2).detach(), tau)),
        Mistake("stop-gradient on batch1's features",
                "let the gradient flow through both views: no .detach() on enc(batch1)",
                gradient=lambda enc, b1, b2, tau: info_nce(enc(b1).detach(), enc(b2), tau)),
    ),
    rubric={  # points of 10 when the mistake is named, and why (docs/MISTAKES.md has the table)
        "hard-coded temperature 0.07": 7,  # right at the course's tau; ignores the argument
        "swapped direction": 7,  # the same loss over columns: an encoder trains as well, but not the one asked for
        "symmetric (CLIP) loss": 7,  # a sound loss that trains as well; not the one-directional one asked for
        "sum instead of mean": 7,  # B times the loss: the same minimiser, the learning rate B times too large
        SCALED: 7,  # as above: the minimiser is right, the scale is not
        "doubled temperature": 6,  # tau misused, but the loss trains nearly as well at 2 tau
        "distance logits without the 1/2": 6,  # the temperature halved; trains
        "symmetric loss summed": 6,  # both directions, twice the scale
        "positive left out of the denominator": 6,  # the decoupled loss: trains, but -inf at B = 1 and not the one asked for
        "SimCLR (NT-Xent) loss over 2B views": 6,  # a sound contrastive loss, not this homework's
        "label smoothing": 7,  # a common regulariser: trains as well, not the loss asked for
        "Euclidean distance logits (not squared)": 5,  # a sound similarity, but not the dot product's loss
        "binary cross-entropy per pair (one-vs-rest)": 4,  # trains, but the negatives don't compete in one softmax
        "stop-gradient on batch2's features": 5,  # trains through one view only: half the signal
        "stop-gradient on batch1's features": 5,
        "missing temperature": 4,  # tau = 1: logits in [-1, 1], the features barely spread (Q5)
        "temperature applied twice": 4,  # tau^2 = 0.0049: far too sharp, unstable
        "temperature divides the loss, not the logits": 4,  # the landscape of tau = 1, rescaled
        "probabilities instead of log-probabilities": 3,  # gradients vanish where p is small: trains poorly
        "temperature multiplied instead of divided": 2,  # logits within +-0.07: almost no signal
        "features normalised over the batch (dim=0)": 2,  # rows no longer unit vectors: logits couple the batch
        "features divided by the Frobenius norm": 2,  # logits shrink with B: the temperature is effectively B tau
        "the same batch twice": 1,  # the positive is the view itself: nothing is learned about augmentations
        "no negatives (positive logits only)": 1,  # nothing pushes features apart: collapse
        "wrong targets (all zeros)": 0,  # every row's positive is column 0: not the task
        "targets shifted (torch.arange(B).roll(1))": 0,  # each view paired with another image: not the task
        "sign flipped": 0,  # maximises the loss
        "skipping the encoder": 0,  # no gradient reaches the encoder
        "exp overflow": 8,  # right, but NaN at small tau (0.01) in float32
        # the engine's symptoms: the right numbers in a form that breaks training
        "detached or no-grad graph": 3,  # right numbers, but the encoder cannot train
        ".item() returns a Python number": 3,
        "NumPy value returned": 3,
        "loss.backward() called inside the loss": 6,  # trains once, then the training loop's backward fails
        "per-row losses not reduced": 6,  # loss.backward() needs a scalar: training stops at once
        "hard-coded batch size": 5,  # right only at the course's B = 256
        "breaks at batch size 1": 8,  # an edge case the course never meets
        "inputs modified in place": 8,  # the caller's batches change under it
        "Tensor subclass returned": 9,
    },
    stub=STUB,
    notebook=Notebook("train_contrastive", ("batch1", "batch2"), assigns="loss", bound=("device",)),
)
