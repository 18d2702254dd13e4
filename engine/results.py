"""A run's results as typed values, and their JSON form (schema 1) shared by `run --json` and reports."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

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
    # Filled by the Evaluate stage (and PTQ for its own file): see engine.evaluation_results.
    latency: Latency | None = None
    classes: ClassAccuracy | None = None
    changed: ChangedPredictions | None = None


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

    def kernel_sparsity(self) -> tuple[WeightSparsity, ...]:
        return tuple(w for w in self.sparsity if "kernel" in w.name)


@dataclass(frozen=True)
class DatasetInfo:
    source: str  # what the user asked for: mnist, fashion_mnist, sample, or a path
    train: int
    test: int
    class_counts: tuple[int, ...] = ()  # training images per class
    note: str | None = None  # e.g. why the sample stands in for MNIST
    loaded_from: str | None = None  # the file actually read, when there is one
    # A few training digits for the Data panel: raw 28x28 uint8 pixels (784 bytes each) and their labels.
    preview_images: tuple[bytes, ...] = ()
    preview_labels: tuple[int, ...] = ()


@dataclass(frozen=True)
class RunResults:
    config: dict[str, Any] = field(default_factory=dict)
    dataset: DatasetInfo | None = None
    models: dict[str, ModelResult] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

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
            ),
            models={name: _model_from_json(m) for name, m in (data.get("models") or {}).items()},
            stage_seconds={k: float(v) for k, v in (data.get("stage_seconds") or {}).items()},
            failures=dict(data.get("failures") or {}),
            versions=dict(data.get("versions") or {}),
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
            **_evaluation_json(m.tflite),
        }
    return {
        "keras_accuracy": m.keras_accuracy,
        "sparsity": fractions,
        "weight_counts": counts,
        "tflite": tflite,
        "history": [{"epoch": e.epoch, **e.metrics} for e in m.history],
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
            latency=latency_from_json(t.get("latency_ms"), t.get("throughput_ips")),
            classes=classes_from_json(t.get("per_class_accuracy"), t.get("confusion")),
            changed=changed_from_json(t.get("changed_vs_baseline"), t.get("changed_images")),
        ),
        history=tuple(
            EpochMetrics(int(h["epoch"]), {k: float(v) for k, v in h.items() if k != "epoch"})
            for h in d.get("history") or ()
        ),
        classes=classes_from_json(d.get("per_class_accuracy"), d.get("confusion")),
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
    }
