"""What the Evaluate stage learns about a model beyond one accuracy, as typed values and their JSON.

Latency of a .tflite file, accuracy per class with the confusion matrix, and the test images whose prediction
differs from the float baseline's. Each JSON key has its own small pair of functions, called from
engine.results; every key is optional on read, so results written before they existed still load.

JSON (under `models.<name>` for Keras models and `models.<name>.tflite` for .tflite files):
- `latency_ms`: {"threads_1": {"p50", "p95", "runs", "threads"}, "threads_all": {...}} per-image invoke times
- `throughput_ips`: {"threads_1": float, "threads_all": float, "batch": int} images a second, batched
- `per_class_accuracy`: [float | null, ...] one per class (null: no test image of that class)
- `confusion`: [[int, ...], ...] rows the true class, columns the predicted one
- `changed_vs_baseline`: {"fixed": int, "broken": int, "other": int} against the float baseline's predictions
- `changed_images`: [{"index", "label", "baseline", "prediction", "pixels"?}, ...]: at most
  CHANGED_LISTED entries, broken first, then fixed, then other; the first CHANGED_PICTURES carry `pixels`,
  a 28x28 grayscale uint8 thumbnail (784 bytes, base64) of the test image, so that the app can draw them
  after a resume without the dataset.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

CHANGED_LISTED = 500
CHANGED_PICTURES = 50
THUMBNAIL_SIDE = 28


@dataclass(frozen=True)
class LatencyStats:
    """Per-image invoke time at one thread count: median and 95th percentile over `runs` invokes."""

    p50_ms: float
    p95_ms: float
    runs: int
    threads: int


@dataclass(frozen=True)
class Latency:
    """A .tflite file timed in a fresh process with the LiteRT interpreter (XNNPack on)."""

    threads_1: LatencyStats
    threads_all: LatencyStats
    throughput_1: float | None = None  # images a second, `batch` images an invoke, one thread
    throughput_all: float | None = None
    batch: int = 1


@dataclass(frozen=True)
class ClassAccuracy:
    """Accuracy of each class and the confusion matrix (rows: true class, columns: predicted class)."""

    per_class: tuple[float | None, ...]
    confusion: tuple[tuple[int, ...], ...]

    @property
    def images(self) -> tuple[int, ...]:
        """Test images of each class."""
        return tuple(sum(row) for row in self.confusion)


@dataclass(frozen=True)
class ChangedImage:
    """A test image that the float baseline and this model classify differently."""

    index: int  # position in the test set
    label: int
    baseline: int  # the float baseline's prediction
    prediction: int  # this model's
    pixels: bytes = b""  # a THUMBNAIL_SIDE² grayscale thumbnail, for the first CHANGED_PICTURES only

    @property
    def kind(self) -> str:
        """`fixed` (the baseline was wrong, this model is right), `broken` (the reverse) or `other`."""
        if self.prediction == self.label:
            return "fixed"
        if self.baseline == self.label:
            return "broken"
        return "other"


@dataclass(frozen=True)
class ChangedPredictions:
    fixed: int
    broken: int
    other: int  # both wrong, differently
    images: tuple[ChangedImage, ...] = ()  # broken first, then fixed, then other; at most CHANGED_LISTED

    @property
    def changed(self) -> int:
        return self.fixed + self.broken + self.other


# --- JSON, one pair of functions a key ---------------------------------------------------------------


def latency_json(latency: Latency | None) -> dict[str, Any] | None:
    if latency is None:
        return None
    return {"threads_1": _stats_json(latency.threads_1), "threads_all": _stats_json(latency.threads_all)}


def _stats_json(stats: LatencyStats) -> dict[str, Any]:
    return {"p50": stats.p50_ms, "p95": stats.p95_ms, "runs": stats.runs, "threads": stats.threads}


def throughput_json(latency: Latency | None) -> dict[str, Any] | None:
    if latency is None:
        return None
    return {"threads_1": latency.throughput_1, "threads_all": latency.throughput_all, "batch": latency.batch}


def latency_from_json(latency: Any, throughput: Any) -> Latency | None:
    if not latency:
        return None
    throughput = throughput or {}
    return Latency(
        threads_1=_stats_from_json(latency["threads_1"], default_threads=1),
        threads_all=_stats_from_json(latency["threads_all"], default_threads=0),
        throughput_1=_optional_float(throughput.get("threads_1")),
        throughput_all=_optional_float(throughput.get("threads_all")),
        batch=int(throughput.get("batch", 1)),
    )


def _stats_from_json(stats: dict[str, Any], default_threads: int) -> LatencyStats:
    return LatencyStats(
        p50_ms=float(stats["p50"]),
        p95_ms=float(stats["p95"]),
        runs=int(stats.get("runs", 0)),
        threads=int(stats.get("threads", default_threads)),
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def per_class_json(classes: ClassAccuracy | None) -> list[float | None] | None:
    return None if classes is None else list(classes.per_class)


def confusion_json(classes: ClassAccuracy | None) -> list[list[int]] | None:
    return None if classes is None else [list(row) for row in classes.confusion]


def classes_from_json(per_class: Any, confusion: Any) -> ClassAccuracy | None:
    if per_class is None or confusion is None:
        return None
    return ClassAccuracy(
        per_class=tuple(None if value is None else float(value) for value in per_class),
        confusion=tuple(tuple(int(n) for n in row) for row in confusion),
    )


def changed_json(changed: ChangedPredictions | None) -> dict[str, int] | None:
    if changed is None:
        return None
    return {"fixed": changed.fixed, "broken": changed.broken, "other": changed.other}


def changed_images_json(changed: ChangedPredictions | None) -> list[dict[str, Any]] | None:
    if changed is None:
        return None
    return [_changed_image_json(image) for image in changed.images]


def _changed_image_json(image: ChangedImage) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "index": image.index,
        "label": image.label,
        "baseline": image.baseline,
        "prediction": image.prediction,
    }
    if image.pixels:
        entry["pixels"] = base64.b64encode(image.pixels).decode("ascii")
    return entry


def changed_from_json(counts: Any, images: Any) -> ChangedPredictions | None:
    if not counts:
        return None
    return ChangedPredictions(
        fixed=int(counts["fixed"]),
        broken=int(counts["broken"]),
        other=int(counts.get("other", 0)),
        images=tuple(
            ChangedImage(
                index=int(entry["index"]),
                label=int(entry["label"]),
                baseline=int(entry["baseline"]),
                prediction=int(entry["prediction"]),
                pixels=base64.b64decode(entry["pixels"]) if entry.get("pixels") else b"",
            )
            for entry in images or ()
        ),
    )
