"""The settings of the collaborative-optimization techniques, as typed values (pure Python, no TensorFlow).

Defaults come from TensorFlow Model Optimization's own examples, each named where it is used:
- pruning_with_keras: PolynomialDecay(initial_sparsity=0.50, final_sparsity=0.80, begin_step=0,
  end_step=ceil(images / batch) * epochs), batch 128, 2 epochs;
- pruning_with_sparsity_2_by_4: `sparsity_m_by_n=(2, 4)`, batch 128, 2 epochs, Adam's default rate;
- clustering_example: 16 clusters, fine-tuned with Adam(1e-5); cqat_example: KMEANS_PLUS_PLUS, 3 epochs;
- sparse_clustering_example / pcqat_example: `preserve_sparsity=True`, 3 epochs with 'adam' (1e-3);
- cqat_example / pcqat_example: the quantization-aware fine-tune is 1 epoch, batch 128.

The sections themselves live in engine.config.PipelineConfig (so one TOML file, `--set` and the run folder's
config.toml hold them) and their leaves' rules in engine.config_file's RULES; `CollabConfig` is the view of
them the recipe runner takes (`CollabConfig.of(config)`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

from engine.config import (
    ClusterConfig,
    PipelineConfig,
    PruneConfig,
    PruneScheduleConfig,
    PTQConfig,
    TrainConfig,
)
from engine.config_file import RULES, Rule

__all__ = ["CENTROID_INITS", "ClusterConfig", "CollabConfig", "PruneScheduleConfig", "TECHNIQUE_CONFIG"]

# tfmot.clustering.keras.CentroidInitialization, by the lower-case name a config file spells.
CENTROID_INITS = ("kmeans_plus_plus", "linear", "random", "density_based")


@dataclass(frozen=True)
class CollabConfig:
    """The new stages' sections (PipelineConfig holds them too; a section there is read first)."""

    cluster: ClusterConfig = field(default_factory=lambda: PipelineConfig().cluster)
    sparse_cluster: ClusterConfig = field(default_factory=lambda: PipelineConfig().sparse_cluster)
    cqat: TrainConfig = field(default_factory=lambda: PipelineConfig().cqat)
    pcqat: TrainConfig = field(default_factory=lambda: PipelineConfig().pcqat)
    prune_2by4: PruneScheduleConfig = field(default_factory=lambda: PipelineConfig().prune_2by4)
    pqat_2by4: TrainConfig = field(default_factory=lambda: PipelineConfig().pqat_2by4)

    @classmethod
    def of(cls, config: PipelineConfig) -> CollabConfig:
        """The collaborative sections a PipelineConfig holds."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})


# The config dataclass each technique reads (recipe.py lists these fields as a stage's inline settings).
TECHNIQUE_CONFIG: dict[str, type] = {
    "train": TrainConfig,
    "prune": PruneScheduleConfig,
    "cluster": ClusterConfig,
    "qat": TrainConfig,
    "ptq": PTQConfig,
}

# The collaborative leaves' rules (engine.config_file holds them beside its own).
COLLAB_RULES: dict[str, Rule] = {
    key: RULES[key]
    for key in ("initial_sparsity", "final_sparsity", "end_step", "number_of_clusters", "centroid_init")
}


def section_config(name: str, pipeline: PipelineConfig, collab: CollabConfig) -> Any:
    """The config dataclass of section `name`, from whichever of the two configs holds it, or None.

    The pipeline's `prune` section is upgraded to a PruneScheduleConfig (PolynomialDecay's defaults added),
    so a recipe stage may pick any schedule for it.
    """
    for holder in (pipeline, collab):
        value = getattr(holder, name, None)
        if is_dataclass(value):
            if isinstance(value, PruneConfig) and not isinstance(value, PruneScheduleConfig):
                return _as_config(PruneScheduleConfig, value)
            return value
    return None


def stage_config(
    section: str | None,
    settings: dict[str, Any],
    technique_config: type | None,
    pipeline: PipelineConfig,
    collab: CollabConfig,
) -> Any:
    """What one recipe stage runs with: its section's values, then its inline `settings` on top.

    A stage with no section (a user's stage of a technique with none) starts from its technique's defaults.
    """
    base = section_config(section, pipeline, collab) if section else None
    if base is None:
        if technique_config is None:
            return None
        base = technique_config(epochs=1) if issubclass(technique_config, TrainConfig) else technique_config()
    if technique_config is not None and not isinstance(base, technique_config):
        base = _as_config(technique_config, base)
    return replace(base, **settings) if settings else base


def _as_config(kind: type, values: Any) -> Any:
    """A `kind` holding the fields it shares with `values` (the rest at `kind`'s defaults)."""
    wanted = {f.name for f in fields(kind)}
    shared = {f.name: getattr(values, f.name) for f in fields(values) if f.name in wanted}
    if issubclass(kind, TrainConfig):
        shared.setdefault("epochs", 1)
    return kind(**shared)
