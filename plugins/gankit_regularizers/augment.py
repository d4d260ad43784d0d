"""DiffAugment: differentiable augmentation for data-efficient GANs (Zhao et al. 2020).

The transforms follow the authors' reference implementation
(mit-han-lab/data-efficient-gans, ``DiffAugment_pytorch.py``):

- ``color``: per sample, brightness ``+ U(-0.5, 0.5)``, then saturation (scale
  the deviation from the channel mean by ``U(0, 2)``), then contrast (scale the
  deviation from the image mean by ``U(0.5, 1.5)``);
- ``translation``: per sample, shift by up to ``translation_ratio`` of the
  image size in each direction (integers), filling with zeros;
- ``cutout``: per sample, zero a square of ``cutout_ratio`` of the image size
  at a random position (it may be clipped at the border).

Sampling a transform (:class:`AugmentParams`) is separate from applying it, so
the *same* transform can be applied to several batches:
:meth:`DiffAugment.apply` ``(a, b, ...)`` draws one and applies it to each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from gankit.errors import ConfigError
from gankit.regularizers import Regularizer

#: The policies DiffAugment knows, in the reference implementation's names.
POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str | Sequence[str]) -> tuple[str, ...]:
    """Split ``"color,translation"`` (or a sequence of names) and check every name."""
    parts = policy.split(",") if isinstance(policy, str) else list(policy)
    names = tuple(p.strip() for p in parts if p.strip())
    for name in names:
        if name not in POLICIES:
            raise ConfigError(
                f"unknown diffaugment policy {name!r}; valid policies: {', '.join(POLICIES)} "
                "(comma-separated, e.g. 'color,translation,cutout')"
            )
    return names


def check_images(x: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is a floating batch of images ``[B, C, H, W]``."""
    if x.dim() != 4:
        raise ValueError(
            f"diffaugment works on image batches of shape [B, C, H, W]; got a tensor of shape "
            f"{list(x.shape)}. For non-image data use instance-noise or drop diffaugment."
        )
    if not x.is_floating_point():
        raise ValueError(f"diffaugment needs a floating-point batch, got dtype {x.dtype}")


@dataclass
class AugmentParams:
    """One sampled DiffAugment transform for ``B`` images of size ``H x W``.

    Per-sample tensors have the batch as first dimension and live on the device
    they were drawn on; :func:`apply_params` moves them to the batch's device.
    """

    ops: tuple[str, ...]
    size: tuple[int, int, int]  #: (B, H, W)
    brightness: torch.Tensor | None = None  #: [B] offsets in [-0.5, 0.5)
    saturation: torch.Tensor | None = None  #: [B] factors in [0, 2)
    contrast: torch.Tensor | None = None  #: [B] factors in [0.5, 1.5)
    shift: torch.Tensor | None = None  #: [B, 2] integer (row, column) shifts
    cutout_start: torch.Tensor | None = None  #: [B, 2] top-left (row, column), may be < 0
    cutout_size: tuple[int, int] = (0, 0)


def sample_params(
    size: tuple[int, int, int],
    ops: Sequence[str],
    *,
    translation_ratio: float = 0.125,
    cutout_ratio: float = 0.5,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> AugmentParams:
    """Draw one transform for a batch of ``size = (B, H, W)``.

    Random numbers come from ``generator`` (on its device) if given, else from
    the global RNG on ``device``.
    """
    batch, height, width = size
    dev = generator.device if generator is not None else torch.device(device or "cpu")
    params = AugmentParams(ops=tuple(ops), size=(batch, height, width))

    def rand() -> torch.Tensor:
        return torch.rand(batch, generator=generator, device=dev)

    def randint(low: int, high: int) -> torch.Tensor:
        return torch.randint(low, high, (batch,), generator=generator, device=dev)

    for op in ops:
        if op == "color":
            params.brightness = rand() - 0.5
            params.saturation = rand() * 2
            params.contrast = rand() + 0.5
        elif op == "translation":
            sh, sw = int(height * translation_ratio + 0.5), int(width * translation_ratio + 0.5)
            params.shift = torch.stack([randint(-sh, sh + 1), randint(-sw, sw + 1)], dim=1)
        elif op == "cutout":
            ch, cw = int(height * cutout_ratio + 0.5), int(width * cutout_ratio + 0.5)
            centre = torch.stack(
                [randint(0, height + (1 - ch % 2)), randint(0, width + (1 - cw % 2))], dim=1
            )
            params.cutout_start = centre - torch.tensor([ch // 2, cw // 2], device=dev)
            params.cutout_size = (ch, cw)
        else:  # pragma: no cover - parse_policy rejects these
            raise ValueError(f"unknown diffaugment policy {op!r}")
    return params


def _translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``out[b, :, i, j] = x[b, :, i + shift[b, 0], j + shift[b, 1]]``, zero outside the image."""
    batch, _, height, width = x.shape
    dev = x.device
    gb, gi, gj = torch.meshgrid(
        torch.arange(batch, device=dev),
        torch.arange(height, device=dev),
        torch.arange(width, device=dev),
        indexing="ij",
    )
    gi = torch.clamp(gi + shift[:, 0].view(-1, 1, 1) + 1, 0, height + 1)
    gj = torch.clamp(gj + shift[:, 1].view(-1, 1, 1) + 1, 0, width + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[gb, gi, gj].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, start: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zero the ``size`` rectangle at ``start`` (clipped to the image) in each sample."""
    _, _, height, width = x.shape
    rows = torch.arange(height, device=x.device).view(1, -1)
    cols = torch.arange(width, device=x.device).view(1, -1)
    r0, c0 = start[:, 0:1], start[:, 1:2]
    in_rows = (rows >= r0) & (rows < r0 + size[0])  # [B, H]
    in_cols = (cols >= c0) & (cols < c0 + size[1])  # [B, W]
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return x * keep.unsqueeze(1).to(x.dtype)


def apply_params(x: torch.Tensor, params: AugmentParams) -> torch.Tensor:
    """Apply the sampled transform ``params`` to ``x`` ``[B, C, H, W]`` (differentiably)."""
    check_images(x)
    batch, _, height, width = x.shape
    if params.size != (batch, height, width):
        raise ValueError(
            f"diffaugment transform was drawn for (B, H, W) = {params.size}, "
            f"but the batch has shape {list(x.shape)}"
        )

    def per_sample(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)

    for op in params.ops:
        if op == "color":
            assert params.brightness is not None and params.saturation is not None
            assert params.contrast is not None
            x = x + per_sample(params.brightness)
            mean = x.mean(dim=1, keepdim=True)
            x = (x - mean) * per_sample(params.saturation) + mean
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * per_sample(params.contrast) + mean
        elif op == "translation":
            assert params.shift is not None
            x = _translate(x, params.shift.to(x.device))
        elif op == "cutout":
            assert params.cutout_start is not None
            x = _cutout(x, params.cutout_start.to(x.device), params.cutout_size)
    return x


@dataclass
class DiffAugmentConfig:
    """Config of the ``diffaugment`` regularizer."""

    policy: str | tuple[str, ...] = field(
        default="color,translation,cutout",
        metadata={"help": "comma-separated transforms: color, translation, cutout"},
    )
    translation_ratio: float = field(
        default=0.125, metadata={"help": "largest shift, as a fraction of the image size"}
    )
    cutout_ratio: float = field(
        default=0.5, metadata={"help": "side of the cut-out square, as a fraction of the size"}
    )


class DiffAugment(Regularizer):
    """Differentiable augmentation of every batch D sees (DiffAugment). Acts on: ``data``.

    In training, :meth:`augment` draws a fresh random transform on each call
    (per sample), as in the paper; reals and fakes get independent transforms.
    To apply the *same* transform to several batches (e.g. a batch and its
    reconstruction, or a consistency term) call ``apply(a, b, ...)``, or draw
    it once with :meth:`sample` and pass it to :meth:`transform` for each.
    Only image batches ``[B, C, H, W]`` are accepted.
    """

    acts_on: tuple[str, ...] = ("data",)

    def __init__(self, config: DiffAugmentConfig | None = None) -> None:
        self.config = config or DiffAugmentConfig()
        self.ops = parse_policy(self.config.policy)
        if not 0.0 <= self.config.translation_ratio <= 1.0:
            raise ConfigError(
                f"diffaugment translation_ratio must be in [0, 1], "
                f"got {self.config.translation_ratio}"
            )
        if not 0.0 <= self.config.cutout_ratio <= 1.0:
            raise ConfigError(
                f"diffaugment cutout_ratio must be in [0, 1], got {self.config.cutout_ratio}"
            )

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> AugmentParams:
        """Draw one transform for batches shaped like ``x`` (from ``generator`` if given)."""
        check_images(x)
        batch, _, height, width = x.shape
        return sample_params(
            (batch, height, width),
            self.ops,
            translation_ratio=self.config.translation_ratio,
            cutout_ratio=self.config.cutout_ratio,
            generator=generator,
            device=x.device,
        )

    def transform(self, x: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        """Apply a transform drawn by :meth:`sample` to ``x``."""
        return apply_params(x, params)

    def apply(
        self, *xs: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Apply ONE freshly drawn transform identically to every batch in ``xs``.

        The batches must share ``B``, ``H`` and ``W`` (channels may differ).
        Returns a tensor for one input, else a tuple in the same order.
        """
        if not xs:
            raise TypeError("DiffAugment.apply needs at least one tensor")
        params = self.sample(xs[0], generator)
        out = tuple(apply_params(x, params) for x in xs)
        return out[0] if len(out) == 1 else out

    def augment(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """A freshly drawn random transform of ``x`` (different on every call)."""
        if not self.ops:
            return x
        return apply_params(x, self.sample(x))
