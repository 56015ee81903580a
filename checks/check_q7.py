"""Question 7(a): what perfect reconstruction does and does not determine about an encoder's feature space."""
from __future__ import annotations

import torch

from checks.check_q4 import seeds
from checks.claim import claim


def _neighbours(features: torch.Tensor) -> list[int]:
    """Index of each point's nearest other point (Euclidean)."""
    dist = torch.cdist(features, features, compute_mode="donot_use_mm_for_euclid_dist")
    dist.fill_diagonal_(float("inf"))
    return dist.argmin(dim=1).tolist()


@seeds(3)
@claim(
    "q7a.reconstruction_leaves_distances_open", "7a",
    "Perfect reconstruction does not determine distances in feature space (Q7(a)(iii) 'maybe'): composing an "
    "invertible but non-isometric map A into the encoder (f' = A f) and its inverse into the decoder "
    "(g' = g A^-1) keeps every reconstruction exactly, yet changes nearest neighbours in feature space.",
    "numeric experiment",
    "A an isometry (orthogonal): distances, hence neighbours, are kept",
)
def reconstruction_leaves_distances_open(broken: bool) -> str:
    """Perfect reconstruction does not determine distances in feature space (Q7(a)(iii) 'maybe'): composing an
    invertible but non-isometric map A into the encoder (f' = A f) and its inverse into the decoder
    (g' = g A^-1) keeps every reconstruction exactly, yet changes nearest neighbours in feature space."""
    found = []
    for seed in range(3):
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(30, 4, generator=generator, dtype=torch.float64)  # 30 images, 4 pixels
        encoder = torch.randn(4, 4, generator=generator, dtype=torch.float64)  # f(x) = W x, invertible
        decoder = torch.linalg.inv(encoder)  # g(z) = W^-1 z: reconstructs every image
        rotation, _ = torch.linalg.qr(torch.randn(4, 4, generator=generator, dtype=torch.float64))
        stretch = torch.diag(torch.tensor([1.0, 1.0, 1.0, 1.0] if broken else [10.0, 1.0, 1.0, 0.1], dtype=torch.float64))
        a = rotation @ stretch @ rotation.T  # invertible; an isometry only when stretch = I
        features, features2 = x @ encoder.T, x @ (a @ encoder).T
        recon, recon2 = features @ decoder.T, features2 @ (decoder @ torch.linalg.inv(a)).T
        assert torch.allclose(recon, x, atol=1e-9) and torch.allclose(recon2, x, atol=1e-9), "reconstruction not perfect"
        before, after = _neighbours(features), _neighbours(features2)
        changed = sum(b != c for b, c in zip(before, after))
        assert changed > 0, f"seed {seed}: the same nearest neighbours for all 30 images after composing A"
        found.append(changed)
    return f"3 seeds, 30 images each: both encoders reconstruct to 1e-9; nearest neighbours changed for {found} of 30"
