"""The settings of the collaborative-optimization techniques, as typed values (pure Python, no TensorFlow).

Defaults come from TensorFlow Model Optimization's own examples, each named where it is used:
- pruning_with_keras: PolynomialDecay(initial_sparsity=0.50, final_sparsity=0.80, begin_step=0,
  end_step=ceil(images / batch) * epochs), batch 128, 2 epochs;
- pruning_with_sparsity_2_by_4: `sparsity_m_by_n=(2, 4)`, batch 128, 2 epochs, Adam's default rate;
- clustering_example: 16 clusters, fine-tuned with Adam(1e-5); cqat_example: KMEANS_PLUS_PLUS, 3 epochs;
- sparse_clustering_example / pcqat_example: `preserve_sparsity=True`, 3 epochs with 'adam' (1e-3);
- cqat_example / pcqat_example: the quantization-aware fine-tune is 1 epoch, batch 128.

The next wave merges these sections into engine.config.PipelineConfig; until then they live here, and their
leaves' rules are registered beside engine.config_file's own so that the same `check_setting`,
`config_from_mapping` and `config_to_toml` serve them (one-line errors that name the key).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

from engine.config import PipelineConfig, PruneConfig, PTQConfig, TrainConfig
from engine.config_file import RULES, SECTION_HELP, Rule

# tfmot.clustering.keras.CentroidInitialization, by the lower-case name a config file spells.
CENTROID_INITS = ("kmeans_plus_plus", "linear", "random", "density_based")


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


def _prune_2by4() -> PruneScheduleConfig:
    return PruneScheduleConfig(epochs=2, batch_size=128, learning_rate=1e-3)


@dataclass(frozen=True)
class CollabConfig:
    """The new stages' sections. A stage reads its section, then its recipe's inline overrides."""

    cluster: ClusterConfig = field(default_factory=lambda: ClusterConfig(epochs=3, learning_rate=1e-5))
    sparse_cluster: ClusterConfig = field(default_factory=lambda: ClusterConfig(epochs=3))
    cqat: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1, batch_size=128))
    pcqat: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1, batch_size=128))
    prune_2by4: PruneScheduleConfig = field(default_factory=_prune_2by4)
    pqat_2by4: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1, batch_size=128))


# The config dataclass each technique reads (recipe.py lists these fields as a stage's inline settings).
TECHNIQUE_CONFIG: dict[str, type] = {
    "train": TrainConfig,
    "prune": PruneScheduleConfig,
    "cluster": ClusterConfig,
    "qat": TrainConfig,
    "ptq": PTQConfig,
}

COLLAB_RULES: dict[str, Rule] = {
    # The same range as the constant schedule's `sparsity`.
    "initial_sparsity": replace(RULES["sparsity"], help="share of zero weights at begin_step (polynomial)"),
    "final_sparsity": replace(RULES["sparsity"], help="share of zero weights from end_step on (polynomial)"),
    "end_step": Rule(
        int,
        "an integer >= 0",
        lambda v: v >= 0,
        "step the final sparsity is reached (0: last fine-tune step)",
    ),
    "number_of_clusters": Rule(
        int, "an integer in [2, 256]", lambda v: 2 <= v <= 256, "unique values each kernel keeps"
    ),
    "centroid_init": Rule(
        str,
        "one of " + ", ".join(CENTROID_INITS),
        lambda v: v in CENTROID_INITS,
        "how cluster centroids start",
    ),
}

# Registered beside config_file's rules (leaves are looked up by name), never over one of them.
RULES.update({key: rule for key, rule in COLLAB_RULES.items() if key not in RULES})
SECTION_HELP.setdefault("cluster", "Weight clustering of the baseline, fine-tuned and stripped.")
SECTION_HELP.setdefault("sparse_cluster", "Sparsity-preserving clustering of the stripped pruned model.")
SECTION_HELP.setdefault("cqat", "Cluster-preserving quantization-aware training of the clustered model.")
SECTION_HELP.setdefault("pcqat", "Prune- and cluster-preserving QAT of the sparse clustered model.")
SECTION_HELP.setdefault("prune_2by4", "Structured 2:4 pruning of the baseline (2 zeros in every 4 inputs).")
SECTION_HELP.setdefault("pqat_2by4", "Pruning-preserving QAT of the 2:4 pruned model.")


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
