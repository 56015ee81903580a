"""reference/losses.py against an independent library (pytorch-metric-learning) and against brute-force loops.

Tolerances: float64 to 1e-10, float32 to 1e-5 (relative, with the same absolute floor). Batch size 1, d = 1,
and tau from 0.001 to 10 are covered.

The oracle ``SelfSupervisedLoss(SupConLoss(...), symmetric=False)(embeddings, ref_emb)`` builds the
similarity matrix ``embeddings @ ref_emb.T`` with labels ``arange(B)`` on both sides (no diagonal is
removed when ref_emb is given): row i's positive is column i, so ``oracle(z1, z2) == info_nce(z1, z2)``.
With B = 1 there is no negative pair and the oracle returns 0, which is also InfoNCE's value (log 1).
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.distances import DotProductSimilarity
from pytorch_metric_learning.losses import SelfSupervisedLoss, SupConLoss
from pytorch_metric_learning.reducers import MeanReducer

from reference.device import pick_device
from reference.losses import autoencoder_loss, clip_loss, contrastive_loss, info_nce

TAUS = (0.001, 0.01, 0.07, 0.5, 1.0, 10.0)
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def oracle(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """One-directional InfoNCE from pytorch-metric-learning (embeddings = z1, ref_emb = z2)."""
    loss = SupConLoss(temperature=tau, distance=DotProductSimilarity(normalize_embeddings=False), reducer=MeanReducer())
    return SelfSupervisedLoss(loss, symmetric=False)(z1, z2)


def brute_info_nce(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    """(1/B) sum_i -log(exp(z1_i.z2_i / tau) / sum_j exp(z1_i.z2_j / tau)), by Python loops in float64."""
    a, b = z1.double().tolist(), z2.double().tolist()
    total = 0.0
    for i, u in enumerate(a):
        logits = [sum(x * y for x, y in zip(u, v)) / tau for v in b]
        top = max(logits)
        total += top + math.log(sum(math.exp(z - top) for z in logits)) - logits[i]
    return total / len(a)


def unit(b: int, d: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=1).to(dtype)


def close(actual: float, expected: float, dtype) -> bool:
    return math.isclose(actual, expected, rel_tol=TOL[dtype], abs_tol=TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("b", [1, 2, 7, 32])
@pytest.mark.parametrize("d", [1, 3, 16])
def test_info_nce_matches_oracle_and_brute_force(dtype, b, d):
    for k, tau in enumerate(TAUS):
        z1, z2 = unit(b, d, 10 * k, dtype), unit(b, d, 10 * k + 1, dtype)
        ours = info_nce(z1, z2, tau)
        assert ours.dtype == dtype and ours.dim() == 0
        assert torch.isfinite(ours), f"not finite at tau = {tau}"
        assert close(ours.item(), oracle(z1, z2, tau).item(), dtype), (tau, ours.item(), oracle(z1, z2, tau).item())
        assert close(ours.item(), brute_info_nce(z1, z2, tau), dtype), (tau, ours.item(), brute_info_nce(z1, z2, tau))


def test_info_nce_batch_of_one_is_zero():
    z = unit(1, 4, 0)
    for tau in TAUS:
        assert info_nce(z, z, tau).item() == 0.0


def test_info_nce_unnormalised_features_and_aligned_pairs():
    """Not only unit vectors; and near-aligned pairs (the trained regime) where the loss is tiny."""
    g = torch.Generator().manual_seed(3)
    z1 = 3 * torch.randn(9, 5, generator=g, dtype=torch.float64)
    z2 = z1 + 0.05 * torch.randn(9, 5, generator=g, dtype=torch.float64)
    for tau in (0.1, 1.0, 10.0):
        assert close(info_nce(z1, z2, tau).item(), brute_info_nce(z1, z2, tau), torch.float64)
        assert close(info_nce(z1, z2, tau).item(), oracle(z1, z2, tau).item(), torch.float64)


def test_info_nce_is_one_directional():
    z1, z2 = unit(6, 3, 1), unit(6, 3, 2)
    assert not math.isclose(info_nce(z1, z2, 0.5).item(), info_nce(z2, z1, 0.5).item(), rel_tol=1e-6)
    assert close(info_nce(z2, z1, 0.5).item(), oracle(z2, z1, 0.5).item(), torch.float64)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_clip_loss_is_the_mean_of_both_directions(dtype):
    for b, d in [(1, 1), (5, 3), (16, 8)]:
        for k, tau in enumerate(TAUS):
            z1, z2 = unit(b, d, k, dtype), unit(b, d, k + 50, dtype)
            ours = clip_loss(z1, z2, tau)
            assert ours.dtype == dtype and ours.dim() == 0 and torch.isfinite(ours)
            brute = (brute_info_nce(z1, z2, tau) + brute_info_nce(z2, z1, tau)) / 2
            assert close(ours.item(), brute, dtype), (b, d, tau)
            assert close(ours.item(), ((oracle(z1, z2, tau) + oracle(z2, z1, tau)) / 2).item(), dtype)
            assert close(ours.item(), clip_loss(z2, z1, tau).item(), dtype)  # symmetric


def test_finite_at_tiny_tau_in_float32():
    z1 = unit(64, 8, 0, torch.float32).requires_grad_()
    z2 = unit(64, 8, 1, torch.float32).requires_grad_()
    for loss_fn in (info_nce, clip_loss):
        loss = loss_fn(z1, z2, 0.001)
        grads = torch.autograd.grad(loss, (z1, z2))
        assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads)
    same = unit(8, 8, 2, torch.float32)
    assert torch.isfinite(info_nce(same, same, 0.001))  # positives at logit 1000: the naive exp overflows here


def test_gradients():
    """Autograd against gradcheck, the closed form (P - I) z / (B tau) and the oracle's gradient."""
    small1, small2 = unit(3, 2, 5).requires_grad_(), unit(3, 2, 6).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: info_nce(a, b, 0.2), (small1, small2))
    assert torch.autograd.gradcheck(lambda a, b: clip_loss(a, b, 0.2), (small1, small2))
    z1, z2 = unit(5, 3, 7).requires_grad_(), unit(5, 3, 8).requires_grad_()
    for tau in (0.07, 1.0):
        g1, g2 = torch.autograd.grad(info_nce(z1, z2, tau), (z1, z2))
        with torch.no_grad():
            p_minus_i = torch.softmax(z1 @ z2.T / tau, dim=1) - torch.eye(5, dtype=torch.float64)
            assert torch.allclose(g1, p_minus_i @ z2 / (5 * tau), rtol=1e-10, atol=1e-12)
            assert torch.allclose(g2, p_minus_i.T @ z1 / (5 * tau), rtol=1e-10, atol=1e-12)
        o1, o2 = torch.autograd.grad(oracle(z1, z2, tau), (z1, z2))
        assert torch.allclose(g1, o1, rtol=1e-10, atol=1e-12) and torch.allclose(g2, o2, rtol=1e-10, atol=1e-12)


class _Encoder(torch.nn.Module):
    """Images [B, 3, H, W] -> unit vectors [B, d]."""

    def __init__(self, hw: int, d: int):
        super().__init__()
        self.linear = torch.nn.Linear(3 * hw * hw, d)

    def forward(self, x):
        return F.normalize(self.linear(x.flatten(1)), dim=1)


def test_contrastive_loss_is_info_nce_of_the_encoded_views():
    torch.manual_seed(0)
    enc = _Encoder(4, 6).double()
    b1, b2 = torch.randn(7, 3, 4, 4, dtype=torch.float64), torch.randn(7, 3, 4, 4, dtype=torch.float64)
    for tau in TAUS:
        loss = contrastive_loss(enc, b1, b2, tau)
        assert loss.dim() == 0 and loss.requires_grad
        assert close(loss.item(), brute_info_nce(enc(b1), enc(b2), tau), torch.float64)
        assert close(loss.item(), oracle(enc(b1), enc(b2), tau).item(), torch.float64)
    loss.backward()
    assert enc.linear.weight.grad is not None and torch.isfinite(enc.linear.weight.grad).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_autoencoder_loss_is_the_mean_squared_error(dtype):
    torch.manual_seed(1)
    enc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 5)).to(dtype)
    dec = torch.nn.Sequential(torch.nn.Linear(5, 3 * 4 * 4), torch.nn.Unflatten(1, (3, 4, 4))).to(dtype)
    for b in (1, 3):
        batch = torch.randn(b, 3, 4, 4, dtype=dtype)
        loss = autoencoder_loss(enc, dec, batch)
        assert loss.dim() == 0 and loss.dtype == dtype and loss.requires_grad
        recon = dec(enc(batch)).detach().double().tolist()
        x = batch.double().tolist()
        squares = [(recon[i][c][h][w] - x[i][c][h][w]) ** 2
                   for i in range(b) for c in range(3) for h in range(4) for w in range(4)]
        assert close(loss.item(), sum(squares) / len(squares), dtype)
        assert close(loss.item(), F.mse_loss(batch, dec(enc(batch))).item(), dtype)  # argument order is irrelevant
    loss.backward()
    assert all(p.grad is not None for p in [*enc.parameters(), *dec.parameters()])


def _devices():
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if str(pick_device()) not in devices:
        devices.append(str(pick_device()))
    return devices


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_device_and_dtype_preserved(device, dtype):
    z1, z2 = unit(4, 3, 0, dtype).to(device), unit(4, 3, 1, dtype).to(device)
    for loss in (info_nce(z1, z2, 0.1), clip_loss(z1, z2, 0.1)):
        assert loss.device.type == torch.device(device).type and loss.dtype == dtype and loss.dim() == 0
    enc = _Encoder(2, 3).to(device=device, dtype=dtype)
    dec = torch.nn.Sequential(torch.nn.Linear(3, 12), torch.nn.Unflatten(1, (3, 2, 2))).to(device=device, dtype=dtype)
    batch = torch.randn(4, 3, 2, 2, dtype=dtype).to(device)
    for loss in (contrastive_loss(enc, batch, batch.flip(0), 0.1), autoencoder_loss(enc, dec, batch)):
        assert loss.device.type == torch.device(device).type and loss.dtype == dtype and loss.dim() == 0
        assert loss.requires_grad
