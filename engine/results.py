"""A run's results as typed values, and their JSON form shared by `run --json` and reports.

Schema 2 (written since issue #11's recipes) adds `models.<name>.tflite.unique_values`,
`models.<name>.tflite.sparse_encoded_bytes` and the top-level `recipe` graph to schema 1; both are read.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from engine.config_file import ConfigError, config_from_mapping
from engine.evaluation_results import (  # noqa: F401 - re-exported with the other result types
    ChangedImage,
    ChangedPredictions,
    ClassAccuracy,
    Latency,
    LatencyStats,
    changed_from_json,
    changed_images_json,
    changed_json,
    classes_from_json,
    confusion_json,
    latency_from_json,
    latency_json,
    per_class_json,
    throughput_json,
)
from engine.recipe import graph_from_json
from engine.strict_json import FileContentError, Node, ShapeError, optional_string, read_json_file
from engine.strict_json import document as strict_document
from engine.writes import write_json_atomic

SCHEMA = 2
OLDER_SCHEMAS = (1,)  # still read: a schema-1 file is a schema-2 file without the new keys
T = TypeVar("T")


@dataclass(frozen=True)
class WeightSparsity:
    """Zeros in one weight tensor (a Keras variable or a tensor inside a .tflite file)."""

    name: str
    zeros: int
    total: int

    @property
    def fraction(self) -> float:
        return self.zeros / self.total if self.total else 0.0


@dataclass(frozen=True)
class TFLiteInfo:
    bytes: int
    zipped_bytes: int
    accuracy: float | None = None
    weight_sparsity: tuple[WeightSparsity, ...] = ()
    # Filled by the Evaluate stage (and PTQ for its own file): see engine.evaluation_results.
    latency: Latency | None = None
    classes: ClassAccuracy | None = None
    changed: ChangedPredictions | None = None
    # Per kernel tensor, the most unique values in any one output channel: int8 files scale each output
    # channel on its own, so clusters show per channel (schema 2).
    unique_values: dict[str, int] = field(default_factory=dict)
    sparse_encoded_bytes: int | None = None  # the raw size with TFLite's sparse encoding, when made


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelResult:
    keras_accuracy: float | None = None
    sparsity: tuple[WeightSparsity, ...] = ()
    tflite: TFLiteInfo | None = None
    history: tuple[EpochMetrics, ...] = ()
    classes: ClassAccuracy | None = None  # per-class accuracy and confusion of the Keras model
    params: int | None = None  # the Keras model's parameters, tfmot's masks and quantizer ranges not counted
    # Layers with weights that pruning did not make sparse (tfmot refused them, or prunes none of their
    # weights, as with DepthwiseConv2D); for quantized models, also pruned layers left float, which lose
    # their zeros when fine-tuned. Their kernels are measured, but not against the sparsity target.
    layers_left_dense: tuple[str, ...] = ()
    layers_left_float: tuple[str, ...] = ()  # layers tfmot could not quantize: they stay float32

    def kernel_sparsity(self) -> tuple[WeightSparsity, ...]:
        """The kernels pruning aims at: every kernel but those of the layers left dense."""
        return tuple(w for w in self.sparsity if "kernel" in w.name and not self.left_dense(w.name))

    def left_dense(self, weight: str) -> bool:
        """Whether `weight` (`layer/kernel`, or a .tflite tensor `layer/kernel (int8)`) is a dense layer's."""
        return weight_layer(weight) in self.layers_left_dense

    def pruned_tflite_weights(self) -> tuple[WeightSparsity, ...]:
        """The .tflite weight tensors of the layers pruning made sparse."""
        if self.tflite is None:
            return ()
        return tuple(w for w in self.tflite.weight_sparsity if not self.left_dense(w.name))


def weight_layer(weight: str) -> str:
    """The layer a weight belongs to: `block_1_expand` for `block_1_expand/kernel (int8)`."""
    return weight.rsplit("/", 1)[0] if "/" in weight else weight


@dataclass(frozen=True)
class LayerSupport:
    """What tfmot does with one layer of the model, in its own verdict (see engine.layer_support)."""

    name: str
    type: str  # the Keras class, e.g. DepthwiseConv2D
    params: int
    prunable: bool  # tfmot's pruning wrapper has weights of this layer to prune
    prune_note: str  # what pruning does with it, or why it cannot
    quantizable: bool  # tfmot's default 8-bit scheme (QAT) quantizes it
    quantize_note: str  # what quantization does with it (and PQAT's scheme, where it differs), or why not


@dataclass(frozen=True)
class DatasetInfo:
    source: str  # what the user asked for: mnist, fashion_mnist, sample, or a path
    train: int
    test: int
    class_counts: tuple[int, ...] = ()  # training images per class
    note: str | None = None  # e.g. why the sample stands in for MNIST
    loaded_from: str | None = None  # the file actually read, when there is one
    # A few training images for the Data panel: uint8 pixels shaped `preview_shape` (H, W, C; at most 28 a
    # side, grey or RGB) and their labels. Results older than preview_shape hold 28x28 grey digits.
    preview_images: tuple[bytes, ...] = ()
    preview_labels: tuple[int, ...] = ()
    image_shape: tuple[int, ...] = ()  # one image as the model sees it: (height, width, channels)
    classes: tuple[str, ...] = ()  # the class names, by label
    preview_shape: tuple[int, ...] = ()

    def class_name(self, label: int) -> str:
        return self.classes[label] if 0 <= label < len(self.classes) else str(label)

    def preview_dims(self) -> tuple[int, int, int]:
        """(H, W, C) of the previews; 28x28 grey for results that predate preview_shape."""
        if len(self.preview_shape) == 3:
            return (int(self.preview_shape[0]), int(self.preview_shape[1]), int(self.preview_shape[2]))
        return (28, 28, 1)


@dataclass(frozen=True)
class RunResults:
    config: dict[str, Any] = field(default_factory=dict)
    dataset: DatasetInfo | None = None
    models: dict[str, ModelResult] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    # The model's layers and what tfmot can do with each: known before any training (the user's model
    # when it loads, the example's once the data's shape is known).
    layer_support: tuple[LayerSupport, ...] = ()
    # The recipe's graph, {stage: [input stages]} in recipe order (engine.recipe.Recipe.to_json); None in
    # results that predate recipes (schema 1).
    recipe: dict[str, list[str]] | None = None

    def with_model(self, name: str, model: ModelResult) -> RunResults:
        return replace(self, models={**self.models, name: model})

    def without(self, *model_names: str, stages: tuple[str, ...] = ()) -> RunResults:
        return replace(
            self,
            models={k: v for k, v in self.models.items() if k not in model_names},
            stage_seconds={k: v for k, v in self.stage_seconds.items() if k not in stages},
            failures={k: v for k, v in self.failures.items() if k not in stages},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "config": self.config,
            "dataset": _dataset_json(self.dataset),
            "models": {name: _model_json(m) for name, m in self.models.items()},
            "stage_seconds": dict(self.stage_seconds),
            "failures": dict(self.failures),
            "versions": dict(self.versions),
            "layer_support": _layer_support_json(self.layer_support),
            "recipe": self.recipe,
        }

    @classmethod
    def from_json(cls, data: Any) -> RunResults:
        """Results from their parsed JSON, strictly: ShapeError names the first key of a wrong type.

        Every key but `schema` may be missing (an older file, or one from a partial run); unknown keys are
        ignored (a newer file). Each key is read by its own small function below.
        """
        document = strict_document(data, "results", SCHEMA, older=OLDER_SCHEMAS)
        return cls(
            config=_config_from_json(document.optional("config")),
            dataset=_dataset_from_json(document.optional("dataset")),
            models=_optional_mapping(document.optional("models"), _model_from_json),
            stage_seconds=_optional_mapping(document.optional("stage_seconds"), _seconds),
            failures=_optional_mapping(document.optional("failures"), Node.string),
            versions=_optional_mapping(document.optional("versions"), Node.string),
            layer_support=_layer_support_from_json(document.optional("layer_support")),
            recipe=_recipe_from_json(document.optional("recipe")),
        )

    def write_json(self, path: Path) -> None:
        """Write atomically (a reader never sees half a file); WriteError when the disk refuses."""
        write_json_atomic(Path(path), self.to_json())

    @classmethod
    def read_json(cls, path: Path) -> RunResults:
        """A results file; ResultsFileError (one line naming the file and the key) for anything else."""
        try:
            data = read_json_file(Path(path))
        except FileContentError as error:
            raise ResultsFileError(str(error)) from None
        try:
            return cls.from_json(data)
        except ShapeError as error:
            raise ResultsFileError(f"{path}: {error}") from None


class ResultsFileError(ValueError):
    """A results file that cannot be read; the message is one line naming the file (and the key)."""


def _sparsity_json(weights: tuple[WeightSparsity, ...]) -> tuple[dict[str, float], dict[str, list[int]]]:
    return (
        {w.name: w.fraction for w in weights},
        {w.name: [w.zeros, w.total] for w in weights},
    )


def _model_json(m: ModelResult) -> dict[str, Any]:
    fractions, counts = _sparsity_json(m.sparsity)
    tflite = None
    if m.tflite is not None:
        t_fractions, t_counts = _sparsity_json(m.tflite.weight_sparsity)
        tflite = {
            "bytes": m.tflite.bytes,
            "zipped_bytes": m.tflite.zipped_bytes,
            "accuracy": m.tflite.accuracy,
            "weight_sparsity": t_fractions,
            "weight_counts": t_counts,
            "unique_values": dict(m.tflite.unique_values),
            "sparse_encoded_bytes": m.tflite.sparse_encoded_bytes,
            **_evaluation_json(m.tflite),
        }
    return {
        "keras_accuracy": m.keras_accuracy,
        "sparsity": fractions,
        "weight_counts": counts,
        "tflite": tflite,
        "history": [{"epoch": e.epoch, **e.metrics} for e in m.history],
        "params": m.params,
        "layers_left_dense": list(m.layers_left_dense),
        "layers_left_float": list(m.layers_left_float),
        **_classes_json(m.classes),
    }


def _classes_json(classes: ClassAccuracy | None) -> dict[str, Any]:
    """`per_class_accuracy` and `confusion`, written only when known (older readers never see nulls)."""
    if classes is None:
        return {}
    return {"per_class_accuracy": per_class_json(classes), "confusion": confusion_json(classes)}


def _evaluation_json(t: TFLiteInfo) -> dict[str, Any]:
    """The Evaluate stage's keys of a .tflite file, those it measured only."""
    found: dict[str, Any] = {**_classes_json(t.classes)}
    if t.latency is not None:
        found["latency_ms"] = latency_json(t.latency)
        found["throughput_ips"] = throughput_json(t.latency)
    if t.changed is not None:
        found["changed_vs_baseline"] = changed_json(t.changed)
        found["changed_images"] = changed_images_json(t.changed)
    return found


def _optional_mapping(node: Node | None, read: Callable[[Node], T]) -> dict[str, T]:
    return {} if node is None else node.mapping(read)


def _seconds(node: Node) -> float:
    return node.number(minimum=0.0)


def _accuracy(node: Node | None) -> float | None:
    return None if node is None else node.number(minimum=0.0, maximum=1.0)


def _config_from_json(node: Node | None) -> dict[str, Any]:
    """The run's config, checked by the config's own rules (the tables read its values as typed)."""
    if node is None:
        return {}
    values = node.fields()
    try:
        config_from_mapping(values)
    except ConfigError as error:
        raise ShapeError(f"config: {error}") from None
    return dict(values)


def _weight_counts(node: Node) -> tuple[WeightSparsity, ...]:
    """`{name: [zeros, total]}` with 0 <= zeros <= total."""
    weights = []
    for name, pair in node.entries():
        counts = pair.elements()
        if len(counts) != 2:
            pair.fail("[zeros, total]")
        zeros, total = counts[0].integer(), counts[1].integer()
        if zeros > total:
            raise ShapeError(f"{pair.where}: {zeros} zeros of {total} weights")
        weights.append(WeightSparsity(name, zeros, total))
    return tuple(weights)


def _optional_weight_counts(node: Node | None) -> tuple[WeightSparsity, ...]:
    return () if node is None else _weight_counts(node)


def _tflite_from_json(node: Node | None) -> TFLiteInfo | None:
    if node is None:
        return None
    return TFLiteInfo(
        bytes=node.key("bytes").integer(minimum=1),
        zipped_bytes=node.key("zipped_bytes").integer(minimum=1),
        accuracy=_accuracy(node.optional("accuracy")),
        weight_sparsity=_optional_weight_counts(node.optional("weight_counts")),
        latency=latency_from_json(node.optional("latency_ms"), node.optional("throughput_ips")),
        classes=classes_from_json(node.optional("per_class_accuracy"), node.optional("confusion")),
        changed=changed_from_json(node.optional("changed_vs_baseline"), node.optional("changed_images")),
        unique_values=_optional_mapping(node.optional("unique_values"), Node.integer),
        sparse_encoded_bytes=_params_from_json(node.optional("sparse_encoded_bytes"), minimum=1),
    )


def _epoch_from_json(node: Node) -> EpochMetrics:
    # A diverged training logs nan or inf: kept as the numbers they are.
    metrics = {name: value.number(finite=False) for name, value in node.entries() if name != "epoch"}
    return EpochMetrics(node.key("epoch").integer(), metrics)


def _model_from_json(node: Node) -> ModelResult:
    fractions = node.optional("sparsity")  # derived from weight_counts: only its shape is checked
    if fractions is not None:
        fractions.mapping(lambda value: value.number(minimum=0.0, maximum=1.0))
    history = node.optional("history")
    return ModelResult(
        keras_accuracy=_accuracy(node.optional("keras_accuracy")),
        sparsity=_optional_weight_counts(node.optional("weight_counts")),
        tflite=_tflite_from_json(node.optional("tflite")),
        history=() if history is None else history.sequence(_epoch_from_json),
        classes=classes_from_json(node.optional("per_class_accuracy"), node.optional("confusion")),
        params=_params_from_json(node.optional("params")),
        layers_left_dense=_names_from_json(node.optional("layers_left_dense")),
        layers_left_float=_names_from_json(node.optional("layers_left_float")),
    )


# The models' keys added in this wave: each optional, so older results still load.


def _params_from_json(node: Node | None, *, minimum: int = 0) -> int | None:
    return None if node is None else node.integer(minimum=minimum)


def _recipe_from_json(node: Node | None) -> dict[str, list[str]] | None:
    """The top-level `recipe` graph (schema 2), checked by the recipe's own reader."""
    if node is None:
        return None
    try:
        graph = graph_from_json(node.value)
    except ValueError as error:
        raise ShapeError(str(error)) from None
    return {stage: list(inputs) for stage, inputs in graph.items()}


def _names_from_json(node: Node | None) -> tuple[str, ...]:
    return () if node is None else node.sequence(Node.string)


def _layer_support_json(layers: tuple[LayerSupport, ...]) -> list[dict[str, Any]]:
    return [asdict(layer) for layer in layers]


def _layer_support_from_json(node: Node | None) -> tuple[LayerSupport, ...]:
    return () if node is None else node.sequence(_layer_from_json)


def _layer_from_json(node: Node) -> LayerSupport:
    return LayerSupport(
        name=node.key("name").string(),
        type=node.key("type").string(),
        params=node.key("params").integer(),
        prunable=node.key("prunable").boolean(),
        prune_note=node.key("prune_note").string(),
        quantizable=node.key("quantizable").boolean(),
        quantize_note=node.key("quantize_note").string(),
    )


def _preview_image(node: Node) -> bytes:
    try:
        return base64.b64decode(node.string(), validate=True)
    except (binascii.Error, ValueError):  # ValueError: a character outside ASCII
        node.fail("base64 text")


def _dataset_from_json(node: Node | None) -> DatasetInfo | None:
    if node is None:
        return None
    counts, images, labels = (node.optional(k) for k in ("class_counts", "preview_images", "preview_labels"))
    dataset = DatasetInfo(
        source=node.key("source").string(),
        train=node.key("train").integer(),
        test=node.key("test").integer(),
        class_counts=() if counts is None else counts.sequence(Node.integer),
        note=optional_string(node.optional("note")),
        loaded_from=optional_string(node.optional("loaded_from")),
        preview_images=() if images is None else images.sequence(_preview_image),
        preview_labels=() if labels is None else labels.sequence(Node.integer),
        image_shape=_image_shape(node.optional("image_shape")),
        classes=_class_names(node.optional("classes")),
        preview_shape=_image_shape(node.optional("preview_shape")),
    )
    _check_previews(dataset, images)
    return dataset


def _image_shape(node: Node | None) -> tuple[int, ...]:
    """`dataset.image_shape` / `preview_shape`: [height, width, channels] (absent in older results: ())."""
    if node is None:
        return ()
    shape = node.sequence(lambda n: n.integer(minimum=1, maximum=1 << 20))
    if len(shape) not in (0, 3):  # [] is what a dataset without a known shape writes
        node.fail("[height, width, channels]")
    return shape


def _class_names(node: Node | None) -> tuple[str, ...]:
    """`dataset.classes`: the class names by label (absent in older results: ())."""
    return () if node is None else node.sequence(Node.string)


def _check_previews(dataset: DatasetInfo, images: Node | None) -> None:
    """Every preview holds the pixels its shape says (28x28 grey for results that predate preview_shape)."""
    height, width, channels = dataset.preview_dims()
    expected = height * width * channels
    for index, pixels in enumerate(dataset.preview_images):
        if len(pixels) != expected:
            assert images is not None
            raise ShapeError(
                f"{images.where}[{index}]: expected {expected} pixels ({height}x{width}x{channels}), "
                f"got {len(pixels)}"
            )


def _dataset_json(ds: DatasetInfo | None) -> dict[str, Any] | None:
    if ds is None:
        return None
    return {
        "source": ds.source,
        "train": ds.train,
        "test": ds.test,
        "class_counts": list(ds.class_counts),
        "note": ds.note,
        "loaded_from": ds.loaded_from,
        "preview_images": [base64.b64encode(p).decode("ascii") for p in ds.preview_images],
        "preview_labels": list(ds.preview_labels),
        "image_shape": list(ds.image_shape),
        "classes": list(ds.classes),
        "preview_shape": list(ds.preview_shape),
    }
