"""Question 6: supervised classification is dual-encoder contrastive learning with f1 = g, f2 = one-hot."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from checks.claim import claim
from reference.losses import info_nce

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


@claim(
    "q6.dual_encoder_equals_cross_entropy", "6",
    "With N = C classes, f1 = g (the classifier's logits) and f2(c) = e_c (one-hot, d = C), the dual-encoder "
    "contrastive loss (tau = 1) equals the softmax cross-entropy F.cross_entropy(g(x), y).",
    "hypothesis property",
    "f2 not one-hot (e_c + e_{c+1})",
)
def dual_encoder_equals_cross_entropy(broken: bool) -> str:
    """With N = C classes, f1 = g (the classifier's logits) and f2(c) = e_c (one-hot, d = C), the dual-encoder
    contrastive loss (tau = 1) equals the softmax cross-entropy F.cross_entropy(g(x), y)."""
    gaps: list[float] = []

    @PROPERTY
    @given(_classification())
    def prop(example):
        g_x, y = example
        b, c = g_x.shape
        f2 = _class_encoder(c, broken)
        # Dual encoder, brute force: x_k is classified among the C classes by f1(x_k)^T f2(c'), target y_k.
        dual = 0.0
        for k in range(b):
            scores = [float(g_x[k] @ f2(cc)) for cc in range(c)]
            top = max(scores)
            dual += -(scores[y[k]] - top - math.log(sum(math.exp(s - top) for s in scores)))
        dual /= b
        supervised = F.cross_entropy(g_x, y).item()
        gaps.append(abs(dual - supervised))
        assert math.isclose(dual, supervised, rel_tol=1e-9, abs_tol=1e-9), f"dual-encoder {dual!r} != cross-entropy {supervised!r}"
        # Q6's batch, x_i ~ p_i for each class i in order (here the first C rows): the in-batch InfoNCE of
        # reference.losses with y_j = class j is the cross-entropy with targets 0..C-1.
        if b >= c:
            classes = torch.arange(c)
            contrastive = info_nce(g_x[:c], f2(classes), 1.0).item()
            assert math.isclose(contrastive, F.cross_entropy(g_x[:c], classes).item(), rel_tol=1e-9, abs_tol=1e-9), (
                f"in-batch InfoNCE {contrastive!r} != cross-entropy with targets 0..C-1")

    prop()
    return f"{len(gaps)} batches (B <= 16, C <= 10, logits in [-50, 50]): max |dual-encoder - cross-entropy| = {max(gaps):.1e}"


@claim(
    "q6.identical_predictions", "6",
    "With f1 = g and f2 = one-hot, the dual encoder's predicted class argmax_c f1(x)^T f2(c) is the classifier's "
    "argmax_c g(x)[c] for every x, so the accuracies are identical.",
    "hypothesis property",
    "f2 not one-hot (e_c + e_{c+1})",
)
def identical_predictions(broken: bool) -> str:
    """With f1 = g and f2 = one-hot, the dual encoder's predicted class argmax_c f1(x)^T f2(c) is the classifier's
    argmax_c g(x)[c] for every x, so the accuracies are identical."""
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
        dual_acc = (dual_pred == y).double().mean().item()
        supervised_acc = (supervised_pred == y).double().mean().item()
        assert dual_acc == supervised_acc, f"accuracy {dual_acc} != {supervised_acc}"

    prop()
    return f"{len(count)} batches (B <= 16, C <= 10): identical argmax predictions and accuracies"
