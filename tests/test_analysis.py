"""reference/analysis.py on synthetic features whose answers are known."""
import numpy as np
import pytest
import torch

from reference import analysis, data
from reference.augment import augmentation
from reference.device import pick_device
from reference.models import Encoder


@pytest.fixture(scope="module")
def shapes():
    return data.generate(320, seed=7)


def _onehot(labels, k, scale=1.0):
    return torch.nn.functional.one_hot(torch.as_tensor(labels), k).float() * scale


def test_nearest_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    q, keys = torch.randn(50, 6, generator=g), torch.randn(80, 6, generator=g)
    idx = analysis.nearest(q, keys, k=3, chunk=7)
    brute = torch.cdist(q, keys).argsort(1)[:, :3]
    assert torch.equal(idx, brute)


def test_knn_accuracy_recovers_the_encoded_factor(shapes):
    """Features that encode only the color family: color 1-NN is perfect, the others sit near chance."""
    train, val = shapes.split("train"), shapes.split("val")
    noise = torch.Generator().manual_seed(1)
    f_train = _onehot(train.family, 8, 10) + 0.01 * torch.randn(len(train), 8, generator=noise)
    f_val = _onehot(val.family, 8, 10) + 0.01 * torch.randn(len(val), 8, generator=noise)
    acc = analysis.knn_accuracy(f_train, train, f_val, val)
    chance = analysis.chance(train, val)
    assert acc["color"] == 1.0
    assert abs(acc["shape"] - chance["shape"]) < 0.2 and abs(acc["location"] - chance["location"]) < 0.2


def test_chance_levels():
    assert analysis.chance_level(np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])) == pytest.approx(0.5)
    assert analysis.chance_level(np.array([0, 0]), np.array([1, 1])) == 0.0
    big = data.generate(4000, seed=0)
    ch = analysis.chance(big.split("train"), big.split("val"))
    assert ch["color"] == pytest.approx(1 / 8, abs=0.01)
    assert ch["shape"] == pytest.approx(1 / 3, abs=0.01)
    assert ch["location"] == pytest.approx(1 / 9, abs=0.01)


class _Constant(torch.nn.Module):
    """Maps every image to the same unit vector: an encoder invariant to everything."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(4))

    def forward(self, x):
        return torch.nn.functional.normalize(self.w.expand(len(x), 4), dim=1)


def test_alignment_uniformity_and_geometry_of_a_constant_encoder(shapes):
    x = data.to_tensor(shapes.images[:16], image_size=16)
    align, unif = analysis.alignment_uniformity(_Constant(), x, [augmentation("A", 16)])
    assert align == pytest.approx(0.0, abs=1e-9) and unif == pytest.approx(0.0, abs=1e-6)
    geo = analysis.set_geometry(_Constant(), x[:3], augmentation("B", 16), views=4)
    assert geo["mean_diameter"] == pytest.approx(0.0, abs=1e-6) and geo["mean_margin"] == pytest.approx(0.0, abs=1e-6)
    assert geo["separated"] == 0.0 and len(geo["diameters"]) == 3


def test_geometry_of_a_random_encoder(shapes):
    torch.manual_seed(0)
    enc = Encoder(16, image_size=16, channels=(8, 8, 16)).to(pick_device())
    x = data.to_tensor(shapes.images[:4], image_size=16)
    geo = analysis.set_geometry(enc, x, augmentation("C", 16), views=6)
    assert all(d > 0 for d in geo["diameters"])
    assert 0 <= geo["min_margin"] <= geo["mean_margin"]
    f = analysis.features(enc, x)
    assert f.shape == (4, 16) and f.dtype == torch.float32


def test_neighbour_figure(tmp_path, shapes):
    """8 queries x 10 neighbours; each row starts with the query itself (NN 1); a PNG is written."""
    f = _onehot(shapes.family, 8) + 0.001 * torch.arange(len(shapes)).float()[:, None]
    grid = analysis.neighbour_figure(f, shapes.images, tmp_path / "nn.png", title="test")
    assert len(grid) == 8 and all(len(row) == 10 for row in grid)
    for row in grid:
        assert all(shapes.family[j] == shapes.family[row[0]] for j in row)
    png = (tmp_path / "nn.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    queries = np.random.default_rng(0).choice(len(f), 8, replace=False)
    assert [row[0] for row in grid] == list(queries)


def test_measurements_leave_the_callers_random_stream_alone(shapes):
    """set_geometry / alignment_uniformity seed only their own draws (they run inside training callbacks)."""
    x = data.to_tensor(shapes.images[:3], image_size=16)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    analysis.set_geometry(_Constant(), x, augmentation("B", 16), views=2, seed=5)
    analysis.alignment_uniformity(_Constant(), x, [augmentation("C", 16)], seed=5)
    assert torch.equal(torch.rand(3), expected)
