"""Every knob of the pipeline, as typed values. Defaults are those of the TensorFlow PQAT example."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

# The largest side `image_size` may ask for.
MAX_IMAGE_SIDE = 4096


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int = 32
    learning_rate: float = 1e-3
    validation_split: float = 0.1


@dataclass(frozen=True)
class PruneConfig(TrainConfig):
    sparsity: float = 0.5
    begin_step: int = 0
    frequency: int = 100


@dataclass(frozen=True)
class PTQConfig:
    representative_images: int = 1000


@dataclass(frozen=True)
class PipelineConfig:
    data: str = "mnist"
    seed: int = 0
    image_size: str = ""  # "HxW" resizes every image; "" keeps their own size
    color_mode: str = "auto"  # auto, grayscale or rgb
    test_split: float = 0.2  # an image folder without test/: share of each class held out for testing
    strategy: str = "default"  # default, mirrored or multiworker (tf.distribute)
    baseline: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10))
    prune: PruneConfig = field(default_factory=lambda: PruneConfig(epochs=3, learning_rate=1e-5))
    qat: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1, batch_size=128))
    pqat: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1, batch_size=128))
    ptq: PTQConfig = field(default_factory=PTQConfig)

    def with_overrides(
        self,
        *,
        data: str | None = None,
        seed: int | None = None,
        epochs: int | None = None,
        prune_epochs: int | None = None,
        sparsity: float | None = None,
    ) -> PipelineConfig:
        """The command line's shortcuts: None leaves a value as it is."""
        updated = self
        if data is not None:
            updated = replace(updated, data=data)
        if seed is not None:
            updated = replace(updated, seed=seed)
        if epochs is not None:
            updated = replace(updated, baseline=replace(updated.baseline, epochs=epochs))
        if prune_epochs is not None:
            updated = replace(updated, prune=replace(updated.prune, epochs=prune_epochs))
        if sparsity is not None:
            updated = replace(updated, prune=replace(updated.prune, sparsity=sparsity))
        return updated

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PipelineConfig:
        default = cls()
        return cls(
            data=values.get("data", default.data),
            seed=values.get("seed", default.seed),
            image_size=values.get("image_size", default.image_size),
            color_mode=values.get("color_mode", default.color_mode),
            test_split=values.get("test_split", default.test_split),
            strategy=values.get("strategy", default.strategy),
            baseline=replace(default.baseline, **values.get("baseline", {})),
            prune=replace(default.prune, **values.get("prune", {})),
            qat=replace(default.qat, **values.get("qat", {})),
            pqat=replace(default.pqat, **values.get("pqat", {})),
            ptq=replace(default.ptq, **values.get("ptq", {})),
        )


def parse_image_size(text: str) -> tuple[int, int] | None:
    """`image_size` as (height, width): "32x32" is (32, 32), "" is None. ValueError for anything else."""
    text = text.strip().lower()
    if not text:
        return None
    match = re.fullmatch(r"(\d+)\s*[x×]\s*(\d+)", text)
    if not match:
        raise ValueError(f"image size {text!r} is not HxW")
    height, width = int(match[1]), int(match[2])
    if not (1 <= height <= MAX_IMAGE_SIDE and 1 <= width <= MAX_IMAGE_SIDE):
        raise ValueError(f"image size {text!r} is out of range")
    return height, width
