"""reference/data.py: determinism, factor ranges, the rasterised shapes agree with their factors, cache, split."""
import numpy as np
import pytest
import torch

from reference import data


@pytest.fixture(scope="module")
def shapes():
    return data.generate(600, seed=3)


def test_deterministic_and_prefix_stable(shapes):
    again = data.generate(600, seed=3)
    assert np.array_equal(shapes.images, again.images)
    prefix = data.generate(100, seed=3)
    assert np.array_equal(prefix.images, shapes.images[:100])
    assert np.array_equal(prefix.family, shapes.family[:100])
    other = data.generate(100, seed=4)
    assert not np.array_equal(other.images, prefix.images)


def test_chunking_does_not_change_images():
    assert np.array_equal(data.generate(50, seed=1, chunk=7).images, data.generate(50, seed=1).images)


def test_shapes_and_dtypes(shapes):
    assert shapes.images.shape == (600, 64, 64, 3) and shapes.images.dtype == np.uint8
    for name in ("shape", "family", "location"):
        assert getattr(shapes, name).shape == (600,)
    assert shapes.rgb.shape == (600, 3) and shapes.centre.shape == (600, 2)


def test_factor_ranges(shapes):
    assert set(np.unique(shapes.shape)) == {0, 1, 2}
    assert set(np.unique(shapes.family)) == set(range(8))
    assert set(np.unique(shapes.location)) == set(range(9))
    assert shapes.size.min() >= 15 and shapes.size.max() <= 49
    assert shapes.centre.min() >= 11 and shapes.centre.max() <= 52
    assert np.all(shapes.rotation[shapes.shape == 0] == 0)
    assert shapes.rotation[shapes.shape == 1].max() < 90 and shapes.rotation[shapes.shape == 2].max() < 120
    # HSV of the colors: saturation 0.5-0.99, value 0.4-0.88 (up to uint8 rounding)
    rgb = shapes.rgb / 255.0
    v, s = rgb.max(1), 1 - rgb.min(1) / rgb.max(1)
    assert v.min() >= 0.4 - 0.01 and v.max() <= 0.88 + 0.01
    assert s.min() >= 0.5 - 0.02 and s.max() <= 0.99 + 0.01


def test_hue_families_are_separated(shapes):
    """Each color's hue lies within 7 degrees of its family's centre (families never overlap)."""
    import colorsys

    for rgb, fam in zip(shapes.rgb[:200] / 255.0, shapes.family[:200]):
        h = colorsys.rgb_to_hsv(*rgb)[0] * 360
        gap = abs((h - data.FAMILY_HUES[fam] + 180) % 360 - 180)
        assert gap <= data.HUE_JITTER + 1.5


def test_images_agree_with_factors(shapes):
    """Black background; every lit pixel has the image's color; the area and centroid match the geometry."""
    for i in range(60):
        img, mask = shapes.images[i], shapes.images[i].any(-1)
        assert np.all(img[mask] == shapes.rgb[i])
        assert np.all(img[~mask] == 0)
        s, (cx, cy) = shapes.size[i], shapes.centre[i]
        area = {0: np.pi * s * s / 4, 1: s * s, 2: np.sqrt(3) / 4 * s * s}[int(shapes.shape[i])]
        inside = (cx - s / 2 >= 0) and (cx + s / 2 <= 64) and (cy - s / 2 >= 0) and (cy + s / 2 <= 64)
        if inside and shapes.shape[i] != 1:  # squares may reach past s/2 when rotated
            assert abs(mask.sum() - area) <= 0.08 * area + 6
            ys, xs = np.nonzero(mask)
            assert abs(xs.mean() + 0.5 - cx) < 1.0 and abs(ys.mean() + 0.5 - cy) < 1.0


def test_some_shapes_cut_by_border():
    shapes = data.generate(400, seed=0)
    touching = shapes.images[:, [0, -1], :].any(axis=(1, 2, 3)) | shapes.images[:, :, [0, -1]].any(axis=(1, 2, 3))
    assert 0.02 < touching.mean() < 0.6


def test_location_bin_is_grid_cell_of_centre(shapes):
    col = np.clip(((shapes.centre[:, 0] - 11) / (41 / 3)).astype(int), 0, 2)
    row = np.clip(((shapes.centre[:, 1] - 11) / (41 / 3)).astype(int), 0, 2)
    assert np.array_equal(shapes.location, 3 * row + col)


def test_split_sizes():
    assert data.split_sizes(64_000) == (40_000, 24_000)
    assert data.split_sizes(8_000) == (5_000, 3_000)
    shapes = data.generate(64, seed=0)
    assert len(shapes.split("train")) == 40 and len(shapes.split("val")) == 24
    assert np.array_equal(shapes.split("val").images, shapes.images[40:])
    with pytest.raises(ValueError):
        shapes.split("test")


def test_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMGRADE_CACHE", str(tmp_path))
    first = data.load(40, seed=2)
    files = list(tmp_path.glob("shapes-n40-s2-*.npz"))
    assert len(files) == 1
    second = data.load(40, seed=2)
    assert np.array_equal(first.images, second.images) and np.array_equal(first.centre, second.centre)
    assert data.cache_key(40, 2) != data.cache_key(40, 3) != data.cache_key(41, 2)


def test_to_tensor_and_scaling(shapes):
    x = data.to_tensor(shapes.images[:8])
    assert x.shape == (8, 3, 64, 64) and x.dtype == torch.uint8
    small = data.to_tensor(shapes.images[:8], image_size=16)
    assert small.shape == (8, 3, 16, 16)
    # area averaging keeps the mean intensity
    assert abs(small.float().mean() - x.float().mean()) < 1.0
    z = data.normalize(data.to_float(x))
    assert z.min() >= -1 and z.max() <= 1 and torch.allclose(z[x == 0], torch.tensor(-1.0))
