"""Every knob of the pipeline, as typed values. Defaults are those of the TensorFlow PQAT example."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
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
class PruneScheduleConfig(PruneConfig):
    """Today's constant-sparsity settings plus PolynomialDecay's (the `polynomial` schedule).

    `end_step` 0 means the last step of fine-tuning, as pruning_with_keras computes it, so the final sparsity
    is reached by the end however many images there are. The `m_by_n` schedule ignores the sparsities,
    `begin_step` and `frequency`: tfmot computes its 2:4 mask once, at the first step.
    """

    initial_sparsity: float = 0.5
    final_sparsity: float = 0.8
    end_step: int = 0


@dataclass(frozen=True)
class ClusterConfig(TrainConfig):
    """Weight clustering, fine-tuned: `cluster_weights(number_of_clusters, cluster_centroids_init)`."""

    number_of_clusters: int = 16
    centroid_init: str = "kmeans_plus_plus"


@dataclass(frozen=True)
class RecipeConfig:
    """The `[recipe]` table: which recipe runs (engine.recipe), and a user recipe's definition.

    `definition` holds the table's other keys (`base`, `without`, `stages`) as the TOML file gave them; it is
    checked by engine.recipe when the config is read, and written back to config.toml as it came.
    """

    name: str = "pqat"
    definition: Any = field(default_factory=dict)

    def table(self) -> dict[str, Any]:
        """The whole `[recipe]` table, as engine.recipe.resolve_recipe reads it."""
        return {"name": self.name, **self.definition}


# The collaborative techniques' sections (engine.collab_config), with tfmot's examples' defaults.
def _cluster() -> ClusterConfig:
    return ClusterConfig(epochs=3, learning_rate=1e-5)


def _sparse_cluster() -> ClusterConfig:
    return ClusterConfig(epochs=3)


def _quantize_fine_tune() -> TrainConfig:
    return TrainConfig(epochs=1, batch_size=128)


def _prune_2by4() -> PruneScheduleConfig:
    return PruneScheduleConfig(epochs=2, batch_size=128, learning_rate=1e-3)


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
    cluster: ClusterConfig = field(default_factory=_cluster)
    sparse_cluster: ClusterConfig = field(default_factory=_sparse_cluster)
    cqat: TrainConfig = field(default_factory=_quantize_fine_tune)
    pcqat: TrainConfig = field(default_factory=_quantize_fine_tune)
    prune_2by4: PruneScheduleConfig = field(default_factory=_prune_2by4)
    pqat_2by4: TrainConfig = field(default_factory=_quantize_fine_tune)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)

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
        """Plain values, in the TOML file's shape (the `recipe` table as the file spells it)."""
        values = asdict(self)
        values["recipe"] = self.recipe.table()
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PipelineConfig:
        default = cls()
        given: dict[str, Any] = {}
        for item in fields(cls):
            if item.name not in values:
                continue
            value = getattr(default, item.name)
            if isinstance(value, RecipeConfig):
                table = dict(values[item.name])
                given[item.name] = RecipeConfig(name=table.pop("name", value.name), definition=table)
            elif is_dataclass(value):
                given[item.name] = replace(value, **values[item.name])
            else:
                given[item.name] = values[item.name]
        return replace(default, **given)


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
