"""The homework's augmentations A, B and C (HOMEWORK.md), batched on the training device.

Each pipeline takes float images in [0, 1] ``[B, 3, S, S]`` and returns views of the same shape,
every image with its own random draw. The course's [-1, 1] scaling (:func:`reference.data.normalize`)
comes after, so whatever is filled in is black (0), the background. ``image_size`` other than 64
(the CPU presets downsample the data) scales the paddings with the image: the same scene geometry
at every resolution.

**A** (colour): ``RandomGrayscale(p=0.2)``, ``ColorJitter(brightness=0.3, contrast=0.3, saturation=0.9, hue=0.5)``
-> kornia's ``RandomGrayscale`` and ``ColorJitter`` (the port of torchvision's: the same factor ranges,
hue in turns, the four steps in random order). ``hue=0.5`` shifts hue anywhere on the wheel: colour
is destroyed, the outline kept.

**B and C** (geometry) are chains of torchvision transforms each of which is a projective map of
the plane, so per image a whole chain is ONE 3x3 homography ``H = M_K ... M_2 M_1``. :class:`Warp`
draws every step's parameters as torchvision's ``get_params`` draws them, multiplies the matrices
and resamples each view once, instead of warping the image K times::

    B: Pad(24), RandomRotation((0, 360)), RandomResizedCrop(64, scale=(0.2, 0.6), ratio=(1, 1), nearest)
    C: Pad(16), RandomRotation((0, 360)),
       with p = 0.7 both RandomAffine(0, translate=(0.3, 0.3), shear=80) and RandomPerspective(0.6, p=1),
       RandomResizedCrop(64, scale=(0.4, 0.8), ratio=(0.2, 5), nearest), RandomRotation((0, 360))

Coordinates are continuous pixel coordinates, x to the right and y down: pixel (row r, column c)
covers [c, c+1] x [r, r+1], a canvas of S pixels is [0, S]^2 and its centre, torchvision's centre
of rotation, is c = (S/2, S/2). Points are homogeneous (x, y, 1); T(t) translates by t, and

    R(θ) = [[cos θ, sin θ], [-sin θ, cos θ]]    counter-clockwise on the screen, torchvision's sense
    Sh(φ) = [[1, -tan φ], [0, 1]]               torchvision's shear along x

Each step, on a canvas of S pixels, with its parameters drawn as torchvision draws them, and its matrix::

    Pad(p)                          -                                                 T(p, p); canvas S + 2p
    RandomRotation((0, 360))        θ ~ U(0°, 360°)                                   T(c) R(θ) T(-c)
    RandomAffine(0, translate=      t = round(U(-aS, aS)) per axis (whole pixels),    T(c + t) Sh(φ) T(-c)
      (a, a), shear=s)              φ ~ U(-s°, s°)
    RandomPerspective(d)            the corners (0, 0), (e, 0), (e, e), (0, e),       the homography that takes
                                    e = S - 1, each coordinate moved inward by an     the corners to the moved
                                    integer ~ U{0, ..., ⌊d ⌊S/2⌋⌋}                    ones
    RandomResizedCrop(s, scale,     area A ~ U(scale) S², ln r ~ U(ln ratio),         diag(s/w, s/h) T(-j, -i);
      ratio)                        w = round(√(A r)), h = round(√(A / r)): the       canvas s
                                    first of 10 tries with w, h <= S, else the
                                    whole canvas (its ratio clamped into ``ratio``,
                                    centred); top i ~ U{0..S-h}, left j ~ U{0..S-w}
    RandomApply(steps, p)           one coin per image ~ Bernoulli(p)                 the steps' matrices, or
                                                                                      the identity for each

Sampling: the centres q of the view's pixels are mapped back to the image by H⁻¹ and read with one
``grid_sample``. H⁻¹ is the adjugate of H (a homography is defined up to scale: no determinant, no
solve, nothing that makes a GPU wait). Done one after another, each step also clips to its canvas:
content pushed off it is lost for the later steps. So where a step can push content off its
output canvas (the affine translates and shears, a crop keeps only its box, the last rotation turns
the crop's corners out) the point is also mapped back through the later steps alone and the pixel is
black unless it lies on that canvas. Padding, the first rotation (the padded image lies inside the
canvas's inscribed circle) and the perspective (it maps the canvas into itself) need no check.

Resampling is nearest-neighbour, as the course's rotations, affine (torchvision's default for
both) and crops (explicit ``nearest``): every lit pixel of a view has exactly its image's colour.
The course's ``RandomPerspective`` alone is bilinear (torchvision's default), which blends the
colour with the black background along the outline; here the chain is resampled once, so nearest
for all of it: C's outlines are stepped instead of blended over one pixel (a difference in none of
the factors the homework measures), and a view's pixels come from where the exact composed map
points rather than from a pixel rounded after every step.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

import kornia.augmentation as K

NAMES = ("A", "B", "C")


def _scaled(pixels: int, image_size: int) -> int:
    return round(pixels * image_size / 64)


def augmentation(name: str, image_size: int = 64) -> nn.Module:
    """Pipeline ``A``, ``B`` or ``C`` for images of ``image_size`` pixels (module docstring)."""
    s = image_size
    if name == "A":
        return nn.Sequential(
            K.RandomGrayscale(p=0.2),
            K.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.9, hue=0.5, p=1.0),
        )
    # The first rotation turns the padded image about the canvas's centre; the image lies inside the
    # canvas's inscribed circle (a padding of at least (√2 - 1) S / 2 = 0.21 S), so it loses nothing.
    if name == "B":
        return Warp(s, [Pad(_scaled(24, s)), Rotation(clips=False), ResizedCrop(s, scale=(0.2, 0.6), ratio=(1.0, 1.0))])
    if name == "C":
        return Warp(s, [
            Pad(_scaled(16, s)),
            Rotation(clips=False),
            RandomApply(0.7, Affine(translate=0.3, shear=80.0), Perspective(0.6)),
            ResizedCrop(s, scale=(0.4, 0.8), ratio=(0.2, 5.0)),
            Rotation(),
        ])
    raise ValueError(f"augmentation is one of {NAMES}, not {name!r}")


def two_views(augment: nn.Module, x01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent views of every image of ``x01``, drawn in one batched call."""
    both = augment(torch.cat([x01, x01]))
    return both[: len(x01)], both[len(x01):]


# ------------------------------------------------------------------------------------ the steps
class Step:
    """One transform of a chain. Each one has ``draw(n, size, device)``: its parameters for ``n``
    images on a canvas of ``size`` pixels (a dict of tensors), and ``matrix(params, size)``: the
    ``[n, 3, 3]`` maps from its input canvas to its output canvas."""

    clips = False
    """Whether the step can push content off its output canvas (then the sampler checks that canvas)."""

    def out_size(self, size: int) -> int:
        return size

    def frames(self, params: dict, size: int):
        """``(matrix, output canvas size, clips)`` of each map this step contributes (one)."""
        yield self.matrix(params, size), self.out_size(size), self.clips


class Pad(Step):
    """``Pad(p)`` with zeros: T(p, p), the canvas grows by 2p."""

    def __init__(self, padding: int):
        self.padding = padding

    def out_size(self, size: int) -> int:
        return size + 2 * self.padding

    def draw(self, n, size, device):
        return {"offset": torch.full((n, 2), float(self.padding), device=device)}

    def matrix(self, params, size):
        return _affine(torch.eye(2, device=params["offset"].device).expand(len(params["offset"]), 2, 2),
                       params["offset"])


class Rotation(Step):
    """``RandomRotation((0, 360))``: T(c) R(θ) T(-c), θ ~ U(0°, 360°). ``clips``: whether the canvas's corners
    can hold content (which a rotation turns off the canvas)."""

    def __init__(self, clips: bool = True):
        self.clips = clips

    def draw(self, n, size, device):
        return {"angle": 360.0 * torch.rand(n, device=device)}

    def matrix(self, params, size):
        theta = torch.deg2rad(params["angle"])
        cos, sin = theta.cos(), theta.sin()
        return _about(size / 2, _stack2(cos, sin, -sin, cos))


class Affine(Step):
    """``RandomAffine(degrees=0, translate=(a, a), shear=s)``: T(c + t) Sh(φ) T(-c)."""

    clips = True

    def __init__(self, translate: float, shear: float):
        self.translate, self.shear = translate, shear

    def draw(self, n, size, device):
        u = torch.rand(n, 3, device=device)
        reach = self.translate * size
        return {"translation": torch.round((2 * u[:, :2] - 1) * reach),   # torchvision: int(round(U(-aS, aS)))
                "shear": (2 * u[:, 2] - 1) * self.shear}

    def matrix(self, params, size):
        tan = torch.tan(torch.deg2rad(params["shear"]))
        one, zero = torch.ones_like(tan), torch.zeros_like(tan)
        return _about(size / 2, _stack2(one, -tan, zero, one), params["translation"])


class Perspective(Step):
    """``RandomPerspective(d, p=1)``: the homography taking the canvas corners to corners moved inward."""

    def __init__(self, distortion: float):
        self.distortion = distortion

    def draw(self, n, size, device):
        bound = int(self.distortion * (size // 2)) + 1                  # torchvision: randint(0, bound)
        o = torch.floor(torch.rand(n, 8, device=device) * bound).unbind(1)
        e = size - 1.0
        # torchvision's end points: the corners (0, 0), (e, 0), (e, e), (0, e), each moved inward.
        end = [(o[0], o[1]), (e - o[2], o[3]), (e - o[4], e - o[5]), (o[6], e - o[7])]
        return {"end": torch.stack([torch.stack(corner, -1) for corner in end], 1)}

    def matrix(self, params, size):
        # The start corners -> the unit square (a scaling by 1/e), then the unit square -> the end
        # corners in Heckbert's closed form (Fundamentals of Texture Mapping, 1989, section 2.2.3).
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = (corner.unbind(-1) for corner in params["end"].unbind(1))
        sx, sy = x0 - x1 + x2 - x3, y0 - y1 + y2 - y3
        dx1, dx2, dy1, dy2 = x1 - x2, x3 - x2, y1 - y2, y3 - y2
        den = dx1 * dy2 - dx2 * dy1
        g, h = (sx * dy2 - sy * dx2) / den, (dx1 * sy - dy1 * sx) / den
        k = 1 / (size - 1.0)
        return torch.stack([
            torch.stack([(x1 - x0 + g * x1) * k, (x3 - x0 + h * x3) * k, x0], -1),
            torch.stack([(y1 - y0 + g * y1) * k, (y3 - y0 + h * y3) * k, y0], -1),
            torch.stack([g * k, h * k, torch.ones_like(g)], -1),
        ], 1)


class ResizedCrop(Step):
    """``RandomResizedCrop(s, scale, ratio, nearest)``: the box (i, j, h, w) scaled to s x s."""

    clips = True
    TRIES = 10
    """torchvision's attempts before it falls back to the whole (ratio-clamped) canvas."""

    def __init__(self, size: int, scale: tuple[float, float], ratio: tuple[float, float]):
        self.size, self.scale, self.ratio = size, scale, ratio

    def out_size(self, size: int) -> int:
        return self.size

    def draw(self, n, size, device):
        u = torch.rand(n, self.TRIES, 2, device=device)
        area = size * size * (self.scale[0] + (self.scale[1] - self.scale[0]) * u[..., 0])
        lo, hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        r = torch.exp(lo + (hi - lo) * u[..., 1])
        w, h = torch.round(torch.sqrt(area * r)), torch.round(torch.sqrt(area / r))
        ok = (w > 0) & (w <= size) & (h > 0) & (h <= size)
        first = (ok.cumsum(1) == 1) & ok                               # the first try that fits, if any
        fits = ok.any(1)
        r_fall = min(max(1.0, self.ratio[0]), self.ratio[1])            # a square canvas, ratio clamped
        w_fall, h_fall = round(min(size, size * r_fall)), round(min(size, size / r_fall))
        w = torch.where(fits, (w * first).sum(1), float(w_fall))
        h = torch.where(fits, (h * first).sum(1), float(h_fall))
        v = torch.rand(n, 2, device=device)
        top = torch.where(fits, torch.floor(v[:, 0] * (size - h + 1)), float((size - h_fall) // 2))
        left = torch.where(fits, torch.floor(v[:, 1] * (size - w + 1)), float((size - w_fall) // 2))
        return {"top": top, "left": left, "height": h, "width": w}

    def matrix(self, params, size):
        sx, sy = self.size / params["width"], self.size / params["height"]
        zero = torch.zeros_like(sx)
        return _affine(_stack2(sx, zero, zero, sy), torch.stack([-params["left"] * sx, -params["top"] * sy], -1))


class RandomApply(Step):
    """``RandomApply(steps, p)``, one coin per image: the steps' matrices, or the identity for all of them."""

    def __init__(self, p: float, *steps: Step):
        self.p, self.steps = p, steps

    def draw(self, n, size, device):
        return {"apply": torch.rand(n, device=device) < self.p,
                "steps": [step.draw(n, size, device) for step in self.steps]}

    def frames(self, params, size):
        apply = params["apply"][:, None, None]
        eye = torch.eye(3, device=apply.device)
        for step, p in zip(self.steps, params["steps"]):
            for m, out, clips in step.frames(p, size):
                yield torch.where(apply, m, eye), out, clips


# ------------------------------------------------------------------------------------ the chain
class Warp(nn.Module):
    """A chain of :class:`Step` s on images of ``image_size`` pixels, composed per image into one
    homography and resampled once (module docstring)."""

    def __init__(self, image_size: int, steps: list[Step]):
        super().__init__()
        self.image_size, self.steps = image_size, steps

    def draw(self, n: int, device=None) -> list[dict]:
        """Every step's parameters for ``n`` images (torch's default random generator of ``device``)."""
        params, size = [], self.image_size
        for step in self.steps:
            params.append(step.draw(n, size, device))
            size = step.out_size(size)
        return params

    def frames(self, params: list[dict]) -> list[tuple[torch.Tensor, int, bool]]:
        """``(matrix, output canvas size, clips)`` of every map of the chain, first to last."""
        out, size = [], self.image_size
        for step, p in zip(self.steps, params):
            for frame in step.frames(p, size):
                out.append(frame)
                size = frame[1]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.warp(x, self.draw(len(x), x.device))

    def warp(self, x: torch.Tensor, params: list[dict]) -> torch.Tensor:
        """The views of ``x`` ``[n, C, S, S]`` under the drawn ``params``: one ``grid_sample``."""
        frames = self.frames(params)
        n, size = len(x), frames[-1][1]
        # The maps back from the view: to the canvas of every step that clips (through the later
        # steps alone), and last to the input image (through all of them); each canvas scaled to [0, 1]^2.
        back, later = [], None
        for m, canvas, clips in reversed(frames):
            if clips and later is not None:
                back.append(_to_unit(_adjugate(later), canvas))
            later = m if later is None else later @ m
        back.append(_to_unit(_adjugate(later), self.image_size))
        uv = _map(torch.stack(back, 1), _pixel_centres(size, x.device))            # [n, frames, 2, P]
        inside = ((uv >= 0) & (uv <= 1)).flatten(1, 2).all(1)                      # [n, P]; nan/inf: outside
        grid = torch.where(inside[:, None], 2 * uv[:, -1] - 1, -2.0)                # -2: off the image, black
        grid = grid.transpose(1, 2).reshape(n, size, size, 2).to(x.dtype)
        return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


# ------------------------------------------------------------------------------------ matrix helpers
def _stack2(a, b, c, d) -> torch.Tensor:
    """``[n, 2, 2]`` from the entries ``[[a, b], [c, d]]`` (each ``[n]``)."""
    return torch.stack([torch.stack([a, b], -1), torch.stack([c, d], -1)], -2)


def _affine(linear: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``[n, 3, 3]``: x -> linear x + shift."""
    m = torch.zeros(len(linear), 3, 3, device=linear.device)
    m[:, :2, :2], m[:, :2, 2], m[:, 2, 2] = linear, shift, 1.0
    return m


def _about(centre: float, linear: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
    """T(c + shift) linear T(-c), c = (centre, centre)."""
    c = torch.full((len(linear), 2), centre, device=linear.device)
    t = c - (linear @ c[..., None])[..., 0]
    return _affine(linear, t if shift is None else t + shift)


def _adjugate(m: torch.Tensor) -> torch.Tensor:
    """The adjugate of ``[..., 3, 3]``: det(m) m⁻¹, the inverse map of a homography (scale is irrelevant)."""
    r0, r1, r2 = m.unbind(-2)
    return torch.stack([torch.linalg.cross(r1, r2), torch.linalg.cross(r2, r0), torch.linalg.cross(r0, r1)], -1)


def _to_unit(h: torch.Tensor, canvas: int) -> torch.Tensor:
    """``h`` followed by the scaling of a canvas of ``canvas`` pixels to [0, 1]^2."""
    return torch.cat([h[..., :2, :] / canvas, h[..., 2:, :]], -2)


def _pixel_centres(size: int, device) -> torch.Tensor:
    """``[3, size * size]``: the homogeneous centres (x + 1/2, y + 1/2, 1) of a canvas's pixels, row by row."""
    c = torch.arange(size, device=device, dtype=torch.float32) + 0.5
    y, x = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([x.flatten(), y.flatten(), torch.ones(size * size, device=device)])


def _map(h: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Homographies ``h [..., 3, 3]`` applied to homogeneous points ``q [3, P]``: ``[..., 2, P]``."""
    p = h @ q
    return p[..., :2, :] / p[..., 2:, :]
