"""Question 6: supervised classification is dual-encoder contrastive learning with f1 = g, f2 = one-hot.

The precise sense of "the accuracies are equal": for a fixed g the two predictions agree pointwise, so the
accuracies agree on any data; the *trained* classifiers (the minimisers of the two expected losses) agree only when
the classes are balanced and the dual-encoder loss is the one-directional InfoNCE (x classified among the classes);
the symmetric (CLIP) loss is not the cross-entropy and its minimiser can predict differently.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from checks.claim import claim
from checks.check_q4 import minimise, seeds
from reference.losses import clip_loss, info_nce

PROPERTY = settings(
    derandomize=True, database=None, deadline=None, max_examples=80,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""Reproducible and quick: a fixed seed, no example database, no deadline."""


@st.composite
def _classification(draw):
    """A batch of B examples of C classes: the classifier's logits g(x) [B, C] and labels y [B]."""
    c, b = draw(st.integers(1, 10)), draw(st.integers(1, 16))
    logits = draw(arrays(np.float64, (b, c), elements=st.floats(-50, 50)))
    labels = draw(arrays(np.int64, b, elements=st.integers(0, c - 1)))
    return torch.from_numpy(logits), torch.from_numpy(labels)


def _class_encoder(c: int, broken: bool):
    """f2: class index -> feature in R^C: the one-hot e_c (the control: e_c + e_{c+1 mod C}, not one-hot)."""
    eye = torch.eye(c, dtype=torch.float64)
    table = eye + eye.roll(1, dims=1) if broken else eye
    return lambda classes: table[classes]


def _hand_cross_entropy(g_x: torch.Tensor, labels: list[int]) -> float:
    """The supervised loss of classifier logits ``g_x [B, C]``: mean -log softmax(g(x_k))[y_k], by hand (logsumexp)."""
    total = 0.0
    for row, y in zip(g_x.tolist(), labels):
        top = max(row)
        total += top + math.log(sum(math.exp(z - top) for z in row)) - row[y]
    return total / len(labels)


@claim(
    "q6.dual_encoder_equals_cross_entropy", "6",
    "With N = C classes, f1 = g (the classifier's logits) and f2(c) = e_c (one-hot, d = C), the dual-encoder score "
    "f1(x)^T f2(c) is g(x)[c], so the one-directional dual-encoder loss (x classified among the C classes, tau = 1) of "
    "any labelled examples equals the classifier's softmax cross-entropy on them; on Q6's batch (one example of each "
    "class) it is the reference InfoNCE(g(x), f2(classes)).",
    "hypothesis property",
    "f2 not one-hot (e_c + e_{c+1})",
)
def dual_encoder_equals_cross_entropy(broken: bool) -> str:
    """With N = C classes, f1 = g (the classifier's logits) and f2(c) = e_c (one-hot, d = C), the dual-encoder score
    f1(x)^T f2(c) is g(x)[c], so the one-directional dual-encoder loss (x classified among the C classes, tau = 1) of
    any labelled examples equals the classifier's softmax cross-entropy on them; on Q6's batch (one example of each
    class) it is the reference InfoNCE(g(x), f2(classes))."""
    gaps: list[float] = []

    @PROPERTY
    @given(_classification())
    def prop(example):
        g_x, y = example
        b, c = g_x.shape
        class_features = _class_encoder(c, broken)(torch.arange(c))  # [C, d]: f2 of every class
        # The dual encoder: x_k scored against f2 of every class, target y_k.
        dual = F.cross_entropy(g_x @ class_features.T, y).item()
        supervised = _hand_cross_entropy(g_x, y.tolist())  # the classifier's loss, computed from g alone
        gaps.append(abs(dual - supervised))
        assert math.isclose(dual, supervised, rel_tol=1e-9, abs_tol=1e-9), f"dual-encoder {dual!r} != cross-entropy {supervised!r}"
        if b >= c:  # Q6's batch: x_i of class i for i = 1..C (the first C rows), y_j = class j
            contrastive = info_nce(g_x[:c], class_features, 1.0).item()
            supervised = _hand_cross_entropy(g_x[:c], list(range(c)))
            assert math.isclose(contrastive, supervised, rel_tol=1e-9, abs_tol=1e-9), (
                f"in-batch InfoNCE {contrastive!r} != cross-entropy with targets 0..C-1 {supervised!r}")

    prop()
    return f"{len(gaps)} batches (B <= 16, C <= 10, logits in [-50, 50]): max |dual-encoder - cross-entropy| = {max(gaps):.1e}"


@claim(
    "q6.one_directional_loss_is_cross_entropy", "6",
    "Only the one-directional loss is the cross-entropy: on Q6's batch (one example of each class, f1 = g, "
    "f2 = one-hot, tau = 1) InfoNCE(g(x), f2) equals the batch's softmax cross-entropy for every g, while the "
    "symmetric (CLIP) loss, which also classifies each class among the batch's examples, does not.",
    "hypothesis property",
    "the symmetric loss (1/2)(InfoNCE(g(x), f2) + InfoNCE(f2, g(x))) in place of the one-directional one",
)
def one_directional_loss_is_cross_entropy(broken: bool) -> str:
    """Only the one-directional loss is the cross-entropy: on Q6's batch (one example of each class, f1 = g,
    f2 = one-hot, tau = 1) InfoNCE(g(x), f2) equals the batch's softmax cross-entropy for every g, while the
    symmetric (CLIP) loss, which also classifies each class among the batch's examples, does not."""
    loss = clip_loss if broken else info_nce
    gaps: list[float] = []

    @PROPERTY
    @given(_classification())
    def prop(example):
        g_x, _ = example
        c = g_x.shape[1]
        if len(g_x) < c:
            return
        g_x = g_x[:c]
        contrastive = loss(g_x, torch.eye(c, dtype=torch.float64), 1.0).item()
        supervised = _hand_cross_entropy(g_x, list(range(c)))
        gaps.append(abs(contrastive - supervised))
        assert math.isclose(contrastive, supervised, rel_tol=1e-9, abs_tol=1e-9), (
            f"C = {c}: dual-encoder loss {contrastive!r} != cross-entropy {supervised!r}")

    prop()
    return f"{len(gaps)} batches of one example per class (C <= 10): max |InfoNCE - cross-entropy| = {max(gaps):.1e}"


@claim(
    "q6.identical_predictions", "6",
    "For a fixed g (trained or not), with f1 = g and f2 = one-hot the dual encoder's predicted class "
    "argmax_c f1(x)^T f2(c) is the classifier's argmax_c g(x)[c] for every x, so the two accuracies are equal on "
    "any data (any labels, any class balance).",
    "hypothesis property",
    "f2 not one-hot (e_c + e_{c+1})",
)
def identical_predictions(broken: bool) -> str:
    """For a fixed g (trained or not), with f1 = g and f2 = one-hot the dual encoder's predicted class
    argmax_c f1(x)^T f2(c) is the classifier's argmax_c g(x)[c] for every x, so the two accuracies are equal on
    any data (any labels, any class balance)."""
    count: list[int] = []

    @PROPERTY
    @given(_classification())
    def prop(example):
        g_x, y = example
        c = g_x.shape[1]
        scores = g_x @ _class_encoder(c, broken)(torch.arange(c)).T  # [B, C]: f1(x_k)^T f2(c')
        dual_pred, supervised_pred = scores.argmax(dim=1), g_x.argmax(dim=1)
        count.append(1)
        assert torch.equal(dual_pred, supervised_pred), f"predictions {dual_pred.tolist()} != {supervised_pred.tolist()}"

    prop()
    return f"{len(count)} batches (B <= 16, C <= 10): identical argmax predictions on every example"


# Three classes over three inputs, overlapping: p_c(x) = CONDITIONALS[c, x]. Chosen so that input 2 is a close call
# (p_1(2) = 0.285 vs p_2(2) = 0.29): a prior or a loss that tilts the posterior flips its prediction.
CONDITIONALS = torch.tensor([[0.25, 0.73, 0.02], [0.15, 0.565, 0.285], [0.49, 0.22, 0.29]], dtype=torch.float64)
IMBALANCED = (0.6, 0.3, 0.1)


def _expected_dual_loss(g: torch.Tensor, loss) -> torch.Tensor:
    """E over Q6's batches (x_c ~ p_c for each class c, independent) of loss(g[x], one-hot, 1): all 3^3 batches."""
    c, m = CONDITIONALS.shape
    total = torch.zeros((), dtype=torch.float64)
    for batch in itertools.product(range(m), repeat=c):
        weight = math.prod(CONDITIONALS[k, x].item() for k, x in enumerate(batch))
        total = total + weight * loss(g[list(batch)], torch.eye(c, dtype=torch.float64), 1.0)
    return total


def _expected_cross_entropy(g: torch.Tensor, prior) -> torch.Tensor:
    """E over (x, y) with P(y = c) = prior[c], x ~ p_c, of the softmax cross-entropy of g[x] (a table [3, C])."""
    log_p = g.log_softmax(dim=1)  # [x, c]
    return -sum(prior[c] * (CONDITIONALS[c] * log_p[:, c]).sum() for c in range(len(prior)))


def _fit(objective) -> torch.Tensor:
    g = torch.zeros(CONDITIONALS.shape[1], CONDITIONALS.shape[0], dtype=torch.float64, requires_grad=True)
    minimise([g], lambda: objective(g))
    return g.detach()


def _accuracy(g: torch.Tensor, prior) -> float:
    pred = g.argmax(dim=1)
    return sum(prior[c] * CONDITIONALS[c, pred == c].sum().item() for c in range(len(prior)))


def _compare_trained(supervised: torch.Tensor, dual: torch.Tensor, prior) -> str:
    sup_pred, dual_pred = supervised.argmax(dim=1).tolist(), dual.argmax(dim=1).tolist()
    assert sup_pred == dual_pred, (
        f"trained predictions differ: supervised {sup_pred}, dual encoder {dual_pred} (probabilities "
        f"{supervised.softmax(1).numpy().round(4).tolist()} vs {dual.softmax(1).numpy().round(4).tolist()})")
    acc_sup, acc_dual = _accuracy(supervised, prior), _accuracy(dual, prior)
    assert math.isclose(acc_sup, acc_dual, abs_tol=1e-12), f"accuracies {acc_sup:.4f} != {acc_dual:.4f}"
    return f"predictions {sup_pred} on inputs 0..2, accuracy {acc_sup:.4f} for both"


@seeds(1)
@claim(
    "q6.trained_agree_balanced", "6",
    "The trained classifiers agree when the classes are balanced: with a uniform class prior, the g minimising the "
    "expected cross-entropy and the g minimising the expected one-directional dual-encoder loss (Q6's batches, one "
    "example per class) have the same softmax, p(c | x) proportional to p_c(x), hence the same predictions and "
    "accuracy. (Q6's batches ignore the class prior, so with imbalanced classes the two differ.)",
    "numeric experiment",
    "imbalanced classes (prior 0.6, 0.3, 0.1): the supervised optimum tilts towards the frequent class",
)
def trained_agree_balanced(broken: bool) -> str:
    """The trained classifiers agree when the classes are balanced: with a uniform class prior, the g minimising the
    expected cross-entropy and the g minimising the expected one-directional dual-encoder loss (Q6's batches, one
    example per class) have the same softmax, p(c | x) proportional to p_c(x), hence the same predictions and
    accuracy. (Q6's batches ignore the class prior, so with imbalanced classes the two differ.)"""
    prior = IMBALANCED if broken else (1 / 3, 1 / 3, 1 / 3)
    supervised = _fit(lambda g: _expected_cross_entropy(g, prior))
    dual = _fit(lambda g: _expected_dual_loss(g, info_nce))
    evidence = _compare_trained(supervised, dual, prior)
    posterior = (CONDITIONALS.T / CONDITIONALS.T.sum(dim=1, keepdim=True))
    assert torch.allclose(dual.softmax(dim=1), posterior, atol=1e-6), "the dual optimum is not p_c(x) / sum_c p_c(x)"
    assert torch.allclose(supervised.softmax(dim=1), posterior, atol=1e-6), (
        f"supervised optimum {supervised.softmax(1).numpy().round(4).tolist()} is not the balanced posterior")
    return f"3 classes on 3 overlapping inputs, prior {tuple(round(p, 3) for p in prior)}: " + evidence + "; both softmaxes = p_c(x)/sum_c p_c(x) to 1e-6"


@seeds(1)
@claim(
    "q6.trained_agree_one_directional", "6",
    "The trained classifiers agree only for the one-directional loss: with balanced classes, the minimiser of the "
    "expected one-directional dual-encoder loss predicts as the cross-entropy's minimiser on every input; the "
    "symmetric (CLIP) loss, not a cross-entropy, can flip a close call.",
    "numeric experiment",
    "the symmetric loss (1/2)(InfoNCE(g(x), f2) + InfoNCE(f2, g(x))) trained instead",
)
def trained_agree_one_directional(broken: bool) -> str:
    """The trained classifiers agree only for the one-directional loss: with balanced classes, the minimiser of the
    expected one-directional dual-encoder loss predicts as the cross-entropy's minimiser on every input; the
    symmetric (CLIP) loss, not a cross-entropy, can flip a close call."""
    prior = (1 / 3, 1 / 3, 1 / 3)
    supervised = _fit(lambda g: _expected_cross_entropy(g, prior))
    dual = _fit(lambda g: _expected_dual_loss(g, clip_loss if broken else info_nce))
    return "3 classes on 3 overlapping inputs, balanced: " + _compare_trained(supervised, dual, prior)
