"""reference/augment.py's B and C as one homography per view: the course's parameter distributions, and
one resampling that equals the steps applied one after another.

The oracle is the previous implementation (kornia's modules, one warp per step), kept here only, and
driven with the parameters the composed warp drew. ``python tests/test_augment_warp.py`` measures the
speed of both on this machine.
"""
from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kornia.augmentation as K

from reference import data
from reference.augment import Affine, Pad, Perspective, RandomApply, ResizedCrop, Rotation, Warp, _scaled, augmentation


# ------------------------------------------------------------------------------------ the oracle
class _Pad(nn.Module):
    def __init__(self, padding: int):
        super().__init__()
        self.padding = padding

    def forward(self, x):
        return F.pad(x, (self.padding,) * 4)


class _RandomApplyAll(nn.Module):
    def __init__(self, p: float, *transforms: nn.Module):
        super().__init__()
        self.p, self.transforms = p, nn.Sequential(*transforms)

    def forward(self, x):
        pick = torch.rand(len(x), 1, 1, 1, device=x.device) < self.p
        return torch.where(pick, self.transforms(x), x)


def previous(name: str, s: int = 64, perspective: str = "bilinear") -> nn.Sequential:
    """B or C as implemented before the composed warp: kornia's modules, each warping the whole batch."""
    rotation = dict(degrees=(0.0, 360.0), p=1.0, resample="nearest")
    if name == "B":
        return nn.Sequential(_Pad(_scaled(24, s)), K.RandomRotation(**rotation),
                             K.RandomResizedCrop((s, s), scale=(0.2, 0.6), ratio=(1.0, 1.0), resample="nearest"))
    return nn.Sequential(
        _Pad(_scaled(16, s)),
        K.RandomRotation(**rotation),
        _RandomApplyAll(0.7, K.RandomAffine(degrees=0.0, translate=(0.3, 0.3), shear=80.0, p=1.0, resample="nearest"),
                        K.RandomPerspective(distortion_scale=0.6, p=1.0, resample=perspective)),
        K.RandomResizedCrop((s, s), scale=(0.4, 0.8), ratio=(0.2, 5.0), resample="nearest"),
        K.RandomRotation(**rotation),
    )


def _kornia_params(step, p: dict, x: torch.Tensor) -> dict:
    """The composed warp's parameters of ``step`` in kornia's terms (pixel-index coordinates)."""
    n, size = len(x), x.shape[-1]
    if isinstance(step, Rotation):
        return {"degrees": p["angle"]}
    if isinstance(step, Affine):
        return {"translations": p["translation"], "center": torch.full((n, 2), (size - 1) / 2), "scale": torch.ones(n, 2),
                "angle": torch.zeros(n), "shear_x": p["shear"], "shear_y": torch.zeros(n)}
    if isinstance(step, Perspective):
        # torchvision reads the corner pixels' indices as coordinates; kornia as indices (centres at
        # index + 1/2): moved by -1/2, kornia's homography is the same map of the plane.
        e = size - 1.0
        start = torch.tensor([[0.0, 0.0], [e, 0.0], [e, e], [0.0, e]]).expand(n, 4, 2)
        return {"start_points": start - 0.5, "end_points": p["end"] - 0.5}
    if isinstance(step, ResizedCrop):
        j, i, w, h = p["left"], p["top"], p["width"], p["height"]
        corners = [(j, i), (j + w - 1, i), (j + w - 1, i + h - 1), (j, i + h - 1)]
        e = step.size - 1.0
        return {"src": torch.stack([torch.stack(c, -1) for c in corners], 1),
                "dst": torch.tensor([[0.0, 0.0], [e, 0.0], [e, e], [0.0, e]]).expand(n, 4, 2),
                "input_size": torch.tensor([size, size]).expand(n, 2),
                "output_size": torch.tensor([step.size, step.size]).expand(n, 2)}
    raise TypeError(step)


def sequential(warp: Warp, params: list[dict], x: torch.Tensor, name: str) -> torch.Tensor:
    """The oracle: :func:`previous` step by step with the composed warp's ``params``; its perspective is
    nearest, so that every step copies pixels (here a pixel carries its source coordinates)."""
    for module, step, p in zip(previous(name, warp.image_size, perspective="nearest"), warp.steps, params):
        if isinstance(step, Pad):
            x = module(x)
        elif isinstance(step, RandomApply):
            y = x
            for inner, inner_step, q in zip(module.transforms, step.steps, p["steps"]):
                y = inner(y, params=_kornia_params(inner_step, q, y))
            x = torch.where(p["apply"][:, None, None, None], y, x)
        else:
            x = module(x, params=_kornia_params(step, p, x))
    return x


# ------------------------------------------------------------------------------------ one warp = the steps in turn
def _coordinates(n: int, s: int) -> torch.Tensor:
    """Images whose pixels carry their own centre: (x / s, y / s, 1)."""
    c = (torch.arange(s) + 0.5) / s
    y, x = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([x, y, torch.ones(s, s)])[None].expand(n, 3, s, s).contiguous()


def _agreement(a: torch.Tensor, b: torch.Tensor, s: int) -> dict[str, float]:
    """How far two warps of :func:`_coordinates` agree: the share of pixels lit in either that only one
    lights, and of the pixels both light, the shares whose source pixels lie within 1 and 4 px."""
    lit_a, lit_b = a[:, 2] > 0.5, b[:, 2] > 0.5
    both = lit_a & lit_b
    gap = ((a[:, :2] - b[:, :2]) * s).abs().amax(1)[both]
    return {"mask": ((lit_a ^ lit_b).sum() / (lit_a | lit_b).sum()).item(),
            "within_1": (gap <= 1.0).float().mean().item(), "within_4": (gap <= 4.0).float().mean().item()}


AGREE = {"mask_px": 2.5, "within_1": {"B": 0.98, "C": 0.85}, "within_4": 0.99}
"""Bounds of :func:`_agreement`; the lit pixels that disagree lie along the outline, a band whose share
grows as 1/size: at most ``mask_px / size``. Measured on 300 views, 64 px (32 px): lit by one only
B 0.010 (0.019), C 0.026 (0.051), about 1.6 px / size; within 1 px B 1.00, C 0.90; within 4 px B 1.00,
C 0.997. The steps in turn round to a pixel after every step, and C's shear (|tan φ| up to 5.7) magnifies
a half-pixel rounding after the affine into several pixels of the source: hence C's looser 1-px share."""


def _agrees(stats: dict, name: str, size: int) -> bool:
    return (stats["mask"] <= AGREE["mask_px"] / size and stats["within_1"] >= AGREE["within_1"][name]
            and stats["within_4"] >= AGREE["within_4"])


class _WrongOrder(Warp):
    """Control: the matrices multiplied first to last (M_1 M_2 ... M_K) instead of last to first."""

    def frames(self, params):
        frames = super().frames(params)
        return [(m, size, clips) for (m, _, _), (_, size, clips) in zip(frames[::-1], frames)]


class _NoClipping(Warp):
    """Control: content pushed off an intermediate canvas comes back (no canvas is checked)."""

    def frames(self, params):
        return [(m, size, False) for m, size, _ in super().frames(params)]


@pytest.mark.parametrize("size", [64, 32])
@pytest.mark.parametrize("name", ["B", "C"])
def test_one_warp_equals_the_steps_in_turn(name, size):
    warp = augmentation(name, size)
    torch.manual_seed(1)
    params = warp.draw(300)
    x = _coordinates(300, size)
    stats = _agreement(warp.warp(x, params), sequential(warp, params, x, name), size)
    assert _agrees(stats, name, size), stats


@pytest.mark.parametrize("control, names", [(_WrongOrder, "BC"), (_NoClipping, "C")])
def test_controls_break_the_equivalence(control, names):
    """The same comparison fails when the matrices are multiplied in the wrong order, and, for C (whose
    affine and final rotation push content off their canvases), without the canvas checks."""
    for name in names:
        good = augmentation(name)
        torch.manual_seed(1)
        params = good.draw(300)
        x = _coordinates(300, 64)
        stats = _agreement(control(64, good.steps).warp(x, params), sequential(good, params, x, name), 64)
        assert not _agrees(stats, name, 64), (name, stats)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_first_rotation_needs_no_canvas_check(size):
    """B and C skip the check after their first rotation: the padded image fits in the canvas's inscribed circle."""
    for name in ("B", "C"):
        pad, rotation = augmentation(name, size).steps[:2]
        assert not rotation.clips and size / math.sqrt(2) <= size / 2 + pad.padding


def _identity(warp: Warp, n: int) -> list[dict]:
    """Parameters under which every step of B or C leaves the image where it was."""
    params, size = warp.draw(n), warp.image_size
    for step, p in zip(warp.steps, params):
        for q in [p, *p.get("steps", [])]:
            for key in ("angle", "translation", "shear"):
                if key in q:
                    q[key].zero_()
        if isinstance(step, RandomApply):
            p["apply"].fill_(True)
            e = step.steps[1].out_size(size) - 1.0
            p["steps"][1]["end"] = torch.tensor([[0.0, 0.0], [e, 0.0], [e, e], [0.0, e]]).expand(n, 4, 2)
        if isinstance(step, ResizedCrop):
            pad, s = float(warp.steps[0].padding), float(warp.image_size)     # the box the image was padded into
            p.update(top=torch.full((n,), pad), left=torch.full((n,), pad), height=torch.full((n,), s),
                     width=torch.full((n,), s))
        size = step.out_size(size)
    return params


@pytest.mark.parametrize("size", [64, 32])
@pytest.mark.parametrize("name", ["B", "C"])
def test_identity_parameters_give_the_image(name, size):
    x = data.to_float(data.to_tensor(data.generate(8, seed=2).images, image_size=size))
    warp = augmentation(name, size)
    assert torch.equal(warp.warp(x, _identity(warp, len(x))), x)


def test_step_matrices():
    """Each step's matrix on points whose images are known."""
    rot = Rotation().matrix({"angle": torch.tensor([90.0])}, 10)[0]
    assert torch.allclose(rot @ torch.tensor([10.0, 5.0, 1.0]), torch.tensor([5.0, 0.0, 1.0]), atol=1e-5)  # right -> top
    aff = Affine(0.3, 80.0).matrix({"translation": torch.tensor([[2.0, -3.0]]), "shear": torch.tensor([45.0])}, 10)[0]
    assert torch.allclose(aff @ torch.tensor([5.0, 6.0, 1.0]), torch.tensor([6.0, 3.0, 1.0]), atol=1e-5)   # x - tan(φ)(y - 5) + 2
    end = torch.tensor([[[3.0, 1.0], [8.0, 2.0], [7.0, 9.0], [0.0, 6.0]]])
    per = Perspective(0.6).matrix({"end": end}, 10)[0]
    corners = torch.tensor([[0.0, 0.0, 1.0], [9.0, 0.0, 1.0], [9.0, 9.0, 1.0], [0.0, 9.0, 1.0]]) @ per.T
    assert torch.allclose(corners[:, :2] / corners[:, 2:], end[0], atol=1e-4)
    crop = ResizedCrop(64, (0.4, 0.8), (0.2, 5.0)).matrix(
        {"top": torch.tensor([10.0]), "left": torch.tensor([20.0]), "height": torch.tensor([32.0]),
         "width": torch.tensor([16.0])}, 96)[0]
    assert torch.allclose(crop @ torch.tensor([36.0, 42.0, 1.0]), torch.tensor([64.0, 64.0, 1.0]))


# ------------------------------------------------------------------------------------ the course's distributions
def _torchvision(name: str, size: int, n: int, seed: int = 0) -> dict[str, list[float]]:
    """The course's draws, transcribed from torchvision's ``get_params`` (transforms v1) with Python's
    ``random``: one list of values per parameter."""
    rng = random.Random(seed)
    canvas = size + 2 * _scaled(24 if name == "B" else 16, size)
    scale, ratio = ((0.2, 0.6), (1.0, 1.0)) if name == "B" else ((0.4, 0.8), (0.2, 5.0))
    out: dict[str, list[float]] = {k: [] for k in ("angle", "translation", "shear", "inward", "height", "width",
                                                   "top", "left")}
    bound = int(0.6 * (canvas // 2)) + 1
    for _ in range(n):
        out["angle"].append(rng.uniform(0, 360))
        reach = 0.3 * canvas
        out["translation"] += [round(rng.uniform(-reach, reach)), round(rng.uniform(-reach, reach))]
        out["shear"].append(rng.uniform(-80, 80))
        out["inward"] += [rng.randrange(0, bound) for _ in range(8)]
        for _ in range(10):
            area = canvas * canvas * rng.uniform(*scale)
            aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
            w, h = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if 0 < w <= canvas and 0 < h <= canvas:
                i, j = rng.randint(0, canvas - h), rng.randint(0, canvas - w)
                break
        else:  # a square canvas whose ratio 1 lies in the range: the whole canvas
            i, j, h, w = 0, 0, canvas, canvas
        out["height"].append(h), out["width"].append(w), out["top"].append(i), out["left"].append(j)
    return out


def _ours(name: str, size: int, n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    params = augmentation(name, size).draw(n)
    crop = params[3] if name == "C" else params[2]
    out = {"angle": params[1]["angle"], **{k: crop[k] for k in ("height", "width", "top", "left")}}
    if name == "C":
        affine, perspective = params[2]["steps"]
        canvas = size + 2 * _scaled(16, size)
        e = canvas - 1.0
        corners = torch.tensor([[0.0, 0.0], [e, 0.0], [e, e], [0.0, e]])
        out.update(translation=affine["translation"].flatten(), shear=affine["shear"], apply=params[2]["apply"],
                   inward=(perspective["end"] - corners).abs().flatten(), last_angle=params[4]["angle"])
    return out


def _ks(a, b) -> float:
    """Two-sample Kolmogorov-Smirnov statistic."""
    a, b = torch.as_tensor(a, dtype=torch.float64).sort().values, torch.as_tensor(b, dtype=torch.float64).sort().values
    grid = torch.cat([a, b])
    fa = torch.searchsorted(a, grid, right=True) / len(a)
    fb = torch.searchsorted(b, grid, right=True) / len(b)
    return (fa - fb).abs().max().item()


def _ks_limit(n: int, m: int) -> float:
    """The statistic's bound at significance 0.001."""
    return 1.95 * math.sqrt((n + m) / (n * m))


N = 20_000


@pytest.mark.parametrize("name", ["B", "C"])
def test_parameters_are_drawn_as_torchvision_draws_them(name):
    ours, course = _ours(name, 64, N), _torchvision(name, 64, N, seed=1)
    keys = ["angle", "height", "width", "top", "left"] + (["translation", "shear", "inward"] if name == "C" else [])
    for key in keys:
        stat = _ks(ours[key], course[key])
        assert stat < _ks_limit(len(ours[key]), len(course[key])), (key, stat)
    # The control: C's crops are not B's.
    other = _torchvision("C" if name == "B" else "B", 64, N, seed=1)
    assert _ks(ours["width"], other["width"]) > 10 * _ks_limit(N, N)


def test_parameter_ranges_and_rates():
    c, b = _ours("C", 64, N), _ours("B", 64, N)
    canvas = 96
    for key in ("angle", "last_angle"):
        assert 0 <= c[key].min() and c[key].max() < 360
        assert abs(c[key].mean().item() - 180) < 4 * 360 / math.sqrt(12 * N)          # U(0, 360): mean 180
    t = c["translation"]
    assert torch.equal(t, t.round()) and t.abs().max() == round(0.3 * canvas)        # whole pixels, |t| <= 29
    assert -80 <= c["shear"].min() and c["shear"].max() <= 80
    assert torch.equal(c["inward"], c["inward"].round()) and set(c["inward"].unique().tolist()) == set(range(29))
    rate = c["apply"].float().mean().item()
    assert abs(rate - 0.7) < 4 * math.sqrt(0.21 / N)
    # Crops: inside the canvas; B square with 20-60 % of the 112-px canvas; C's ratio within [0.2, 5]
    # up to rounding, 40-80 % of its area except torchvision's fallback to the whole canvas (about 2 %).
    for d, size in ((b, 112), (c, canvas)):
        assert (d["top"] >= 0).all() and (d["top"] + d["height"] <= size).all()
        assert (d["left"] >= 0).all() and (d["left"] + d["width"] <= size).all()
    assert torch.equal(b["height"], b["width"])
    area_b = b["height"] * b["width"] / 112**2
    assert 0.2 - 0.02 < area_b.min() and area_b.max() < 0.6 + 0.02
    whole = (c["height"] == canvas) & (c["width"] == canvas)
    assert 0.01 < whole.float().mean() < 0.03
    area_c = (c["height"] * c["width"] / canvas**2)[~whole]
    assert 0.4 - 0.03 < area_c.min() and area_c.max() < 0.8 + 0.03
    ratio = (c["width"] / c["height"])[~whole]    # w, h <= 96 and area >= 40 %: a ratio in [0.4, 2.5] is all that fits
    assert 0.4 * 0.95 < ratio.min() < 0.45 and 2.2 < ratio.max() < 2.5 / 0.95


def _to(params, device):
    if isinstance(params, dict):
        return {k: _to(v, device) for k, v in params.items()}
    if isinstance(params, list):
        return [_to(v, device) for v in params]
    return params.to(device)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["B", "C"])
def test_cuda_warp_equals_cpu_warp(name):
    """The same parameters give the same views on the GPU (a pixel centre on a rounding boundary may differ)."""
    warp = augmentation(name)
    x = data.to_float(data.to_tensor(data.generate(256, seed=4).images))
    torch.manual_seed(7)
    params = warp.draw(len(x))
    cpu, cuda = warp.warp(x, params), warp.warp(x.cuda(), _to(params, "cuda")).cpu()
    assert (cpu == cuda).all(1).float().mean() > 0.999
    torch.manual_seed(8)
    first = warp(x.cuda())                                   # drawn on the GPU, seeded like the CPU
    torch.manual_seed(8)
    assert torch.equal(warp(x.cuda()), first)


def test_seeded():
    x = data.to_float(data.to_tensor(data.generate(4, seed=3).images))
    warp = augmentation("C")
    torch.manual_seed(5)
    first = warp(x)
    torch.manual_seed(5)
    assert torch.equal(warp(x), first)


# ------------------------------------------------------------------------------------ speed (not a test)
def _speed(sizes=(64, 32), views: int = 512, repeats: int = 7) -> None:
    """Views per second of the composed C and B against the previous kornia pipelines, alternated in one run."""
    import time

    for size in sizes:
        x = data.to_float(data.to_tensor(data.generate(views, seed=0).images, image_size=size))
        runs = {f"{kind} {name}": (augmentation(name, size) if kind == "composed" else previous(name, size))
                for name in "CB" for kind in ("composed", "previous")}
        seconds = {k: [] for k in runs}
        with torch.no_grad():
            for _ in range(repeats):
                for k, f in runs.items():
                    t0 = time.perf_counter()
                    f(x)
                    seconds[k].append(time.perf_counter() - t0)
        rate = {k: views / sorted(v)[len(v) // 2] for k, v in seconds.items()}
        print(f"{size}x{size}, {views} views a call, {torch.get_num_threads()} threads: "
              + ", ".join(f"{k} {v:,.0f}/s" for k, v in rate.items())
              + "; speed-up C {:.1f}x, B {:.1f}x".format(rate["composed C"] / rate["previous C"],
                                                        rate["composed B"] / rate["previous B"]))


if __name__ == "__main__":
    _speed()
