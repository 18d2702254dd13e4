"""A run's results as typed values, and their JSON form (schema 1) shared by `run --json` and reports."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

SCHEMA = 1


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
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResults:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"unsupported results schema {data.get('schema')!r} (expected {SCHEMA})")
        ds = data.get("dataset")
        return cls(
            config=dict(data.get("config") or {}),
            dataset=None
            if not ds
            else DatasetInfo(
                source=ds["source"],
                train=int(ds["train"]),
                test=int(ds["test"]),
                class_counts=tuple(ds.get("class_counts") or ()),
                note=ds.get("note"),
                loaded_from=ds.get("loaded_from"),
                preview_images=tuple(base64.b64decode(p) for p in ds.get("preview_images") or ()),
                preview_labels=tuple(int(label) for label in ds.get("preview_labels") or ()),
                image_shape=_int_list(ds, "image_shape"),
                classes=_str_list(ds, "classes"),
                preview_shape=_int_list(ds, "preview_shape"),
            ),
            models={name: _model_from_json(m) for name, m in (data.get("models") or {}).items()},
            stage_seconds={k: float(v) for k, v in (data.get("stage_seconds") or {}).items()},
            failures=dict(data.get("failures") or {}),
            versions=dict(data.get("versions") or {}),
            layer_support=_layer_support_from_json(data.get("layer_support")),
        )

    def write_json(self, path: Path) -> None:
        """Write atomically: a reader never sees half a file."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def read_json(cls, path: Path) -> RunResults:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def _sparsity_json(weights: tuple[WeightSparsity, ...]) -> tuple[dict[str, float], dict[str, list[int]]]:
    return (
        {w.name: w.fraction for w in weights},
        {w.name: [w.zeros, w.total] for w in weights},
    )


def _sparsity_from_json(counts: dict[str, list[int]]) -> tuple[WeightSparsity, ...]:
    return tuple(WeightSparsity(name, int(z), int(t)) for name, (z, t) in counts.items())


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
    }


def _model_from_json(d: dict[str, Any]) -> ModelResult:
    t = d.get("tflite")
    return ModelResult(
        keras_accuracy=d.get("keras_accuracy"),
        sparsity=_sparsity_from_json(d.get("weight_counts") or {}),
        tflite=None
        if t is None
        else TFLiteInfo(
            bytes=int(t["bytes"]),
            zipped_bytes=int(t["zipped_bytes"]),
            accuracy=t.get("accuracy"),
            weight_sparsity=_sparsity_from_json(t.get("weight_counts") or {}),
        ),
        history=tuple(
            EpochMetrics(int(h["epoch"]), {k: float(v) for k, v in h.items() if k != "epoch"})
            for h in d.get("history") or ()
        ),
        params=_params_from_json(d.get("params")),
        layers_left_dense=_names_from_json(d.get("layers_left_dense")),
        layers_left_float=_names_from_json(d.get("layers_left_float")),
    )


# The keys added after schema 1's first files: each optional, so older results still load.


def _params_from_json(value: Any) -> int | None:
    return None if value is None else int(value)


def _names_from_json(value: Any) -> tuple[str, ...]:
    return tuple(str(name) for name in value or ())


def _layer_support_json(layers: tuple[LayerSupport, ...]) -> list[dict[str, Any]]:
    return [asdict(layer) for layer in layers]


def _layer_support_from_json(value: Any) -> tuple[LayerSupport, ...]:
    return tuple(
        LayerSupport(
            name=str(item["name"]),
            type=str(item["type"]),
            params=int(item["params"]),
            prunable=bool(item["prunable"]),
            prune_note=str(item.get("prune_note") or ""),
            quantizable=bool(item["quantizable"]),
            quantize_note=str(item.get("quantize_note") or ""),
        )
        for item in value or ()
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


def _int_list(values: dict[str, Any], key: str) -> tuple[int, ...]:
    """An optional list of non-negative integers (absent in older results: empty)."""
    raw = values.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(type(n) is int and n >= 0 for n in raw):
        raise ValueError(f"dataset.{key} must be a list of non-negative integers")
    return tuple(raw)


def _str_list(values: dict[str, Any], key: str) -> tuple[str, ...]:
    """An optional list of strings (absent in older results: empty)."""
    raw = values.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        raise ValueError(f"dataset.{key} must be a list of strings")
    return tuple(raw)
