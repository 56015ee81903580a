"""reference/augment.py: each pipeline changes what it should and keeps what it should."""
import numpy as np
import pytest
import torch

from reference import data
from reference.augment import NAMES, augmentation, two_views
from reference.device import pick_device

DEVICE = pick_device()


def _aug(name, x, size=64):
    """Run pipeline ``name`` on the training device; results back on the CPU."""
    return augmentation(name, size).to(DEVICE)(x.to(DEVICE)).cpu()


@pytest.fixture(scope="module")
def shapes():
    return data.generate(400, seed=11)


def _batch(shapes, kind=None, n=48):
    pick = np.flatnonzero(shapes.shape == kind) if kind is not None else np.arange(len(shapes))
    pick = pick[:n]
    return data.to_float(data.to_tensor(shapes.images[pick])), shapes.rgb[pick] / 255.0, pick


def _moments(mask: torch.Tensor):
    """Centroid (x, y), area and the eigenvalue ratio of the second moments of a boolean [H, W] mask."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    xs, ys = xs.float(), ys.float()
    cov = torch.cov(torch.stack([xs, ys]))
    ev = torch.linalg.eigvalsh(cov)
    return xs.mean().item(), ys.mean().item(), len(xs), (ev[1] / ev[0].clamp_min(1e-6)).item()


@pytest.mark.parametrize("name", NAMES)
def test_shape_range_and_determinism(name, shapes):
    x, _, _ = _batch(shapes, n=8)
    torch.manual_seed(0)
    y = _aug(name, x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert y.min() >= -1e-6 and y.max() <= 1 + 1e-6
    torch.manual_seed(0)
    assert torch.equal(_aug(name, x), y)
    v1, v2 = two_views(augmentation(name).to(DEVICE), x.to(DEVICE))
    assert v1.shape == x.shape and not torch.equal(v1, v2)


def test_scaled_pipelines_keep_size(shapes):
    x = data.to_float(data.to_tensor(shapes.images[:4], image_size=16))
    for name in NAMES:
        assert _aug(name, x, 16).shape == (4, 3, 16, 16)
    with pytest.raises(ValueError):
        augmentation("D")


def test_A_changes_hue_and_grays_some(shapes):
    torch.manual_seed(1)
    x, rgb, _ = _batch(shapes, n=96)
    mask = x.amax(1) > 0
    y = _aug("A", x)
    fg = torch.stack([y[i][:, mask[i]].mean(1) for i in range(len(x))]).numpy()
    gray = np.ptp(fg, axis=1) < 1e-3
    assert 0.05 < gray.mean() < 0.45                      # RandomGrayscale(p=0.2), ColorJitter keeps gray gray
    hue_before = np.array([_hue(c) for c in rgb])
    hue_after = np.array([_hue(c) for c in fg])
    shift = np.abs((hue_after - hue_before + 0.5) % 1.0 - 0.5)[~gray]
    assert np.median(shift) > 0.1                         # hue=0.5: shifts anywhere on the wheel


def _hue(c):
    import colorsys

    return colorsys.rgb_to_hsv(*[float(v) for v in c])[0]


def test_A_keeps_outline(shapes):
    """Every pixel keeps its region: the shape's pixels share one color, the background's another."""
    torch.manual_seed(2)
    x, _, _ = _batch(shapes, n=48)
    mask = x.amax(1) > 0
    y = _aug("A", x)
    for i in range(len(x)):
        inside, outside = y[i][:, mask[i]], y[i][:, ~mask[i]]
        assert inside.std(1).max() < 1e-4 and outside.std(1).max() < 1e-4
        assert (inside[:, 0] - outside[:, 0]).abs().max() > 1e-3


def test_B_moves_scales_rotates_and_keeps_color(shapes):
    torch.manual_seed(3)
    x, rgb, _ = _batch(shapes, kind=1, n=48)              # squares: rotation visible
    y = _aug("B", x)
    moved, scale = [], []
    for i in range(len(x)):
        m0, m1 = x[i].amax(0) > 0, y[i].amax(0) > 0
        if m1.sum() < 12:
            continue                                      # cropped out or nearly: nothing to measure
        (cx0, cy0, a0, _), (cx1, cy1, a1, _) = _moments(m0), _moments(m1)
        moved.append(np.hypot(cx1 - cx0, cy1 - cy0))
        scale.append(a1 / a0)
        # nearest resampling: every lit pixel has exactly the original color
        lit = y[i][:, m1]
        assert torch.allclose(lit, torch.tensor(rgb[i], dtype=torch.float32)[:, None].expand_as(lit), atol=1e-5)
    assert len(moved) > 20
    assert np.median(moved) > 4.0                         # location changes
    assert np.ptp(np.log(scale)) > 0.5                    # scale changes (crop of 20-60% of the padded area)
    angles = _orientations("B")
    assert np.ptp(angles) > 60                            # rotation changes


def _orientations(name, n=24):
    """Principal-axis angles (degrees) of views of one horizontal bar."""
    torch.manual_seed(4)
    bar = torch.zeros(n, 3, 64, 64)
    bar[:, :, 30:34, 16:48] = 1.0
    out = []
    for view in _aug(name, bar):
        ys, xs = torch.nonzero(view.amax(0) > 0.5, as_tuple=True)
        if len(xs) < 10:
            continue
        cov = torch.cov(torch.stack([xs.float(), ys.float()]))
        _, vecs = torch.linalg.eigh(cov)
        out.append(np.degrees(np.arctan2(vecs[1, 1].item(), vecs[0, 1].item())) % 180)
    return np.array(out)


def test_C_changes_outline_B_does_not(shapes):
    """A circle stays round under B (rotation, square crops) and is stretched under C."""
    x, _, _ = _batch(shapes, kind=0, n=48)
    ratios = {}
    for name in ("B", "C"):
        torch.manual_seed(5)
        y = _aug(name, x)
        ratios[name] = np.array([_moments(m)[3] for m in (y.amax(1) > 0) if m.sum() >= 30])
    assert len(ratios["B"]) > 10 and len(ratios["C"]) > 10
    assert np.median(ratios["B"]) < 1.3
    assert np.median(ratios["C"]) > 1.8
    assert (ratios["C"] > 3).mean() > 0.2


@pytest.mark.parametrize("name", ["B", "C"])
def test_geometry_keeps_every_colour_exactly(name, shapes):
    """One nearest-neighbour resampling per view: every lit pixel has exactly its image's colour."""
    torch.manual_seed(6)
    x, rgb, _ = _batch(shapes, n=48)
    y = _aug(name, x)
    lit_views = 0
    for i in range(len(x)):
        lit = y[i][:, y[i].amax(0) > 0]
        lit_views += lit.shape[1] > 0
        assert torch.equal(lit, torch.tensor(rgb[i], dtype=torch.float32)[:, None].expand_as(lit))
    assert lit_views > 40
