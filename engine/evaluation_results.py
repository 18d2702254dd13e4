"""What the Evaluate stage learns about a model beyond one accuracy, as typed values and their JSON.

Latency of a .tflite file, accuracy per class with the confusion matrix, and the test images whose prediction
differs from the float baseline's. Each JSON key has its own small pair of functions, called from
engine.results; every key is optional on read, so results written before they existed still load, and each is
read strictly (engine.strict_json: a wrong type names its key path).

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
import binascii
from dataclasses import dataclass
from typing import Any

from engine.strict_json import Node, ShapeError, optional_number

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


def latency_from_json(latency: Node | None, throughput: Node | None) -> Latency | None:
    if latency is None:
        return None
    batch = None if throughput is None else throughput.optional("batch")
    return Latency(
        threads_1=_stats_from_json(latency.key("threads_1"), default_threads=1),
        threads_all=_stats_from_json(latency.key("threads_all"), default_threads=0),
        throughput_1=None
        if throughput is None
        else optional_number(throughput.optional("threads_1"), minimum=0.0),
        throughput_all=(
            None if throughput is None else optional_number(throughput.optional("threads_all"), minimum=0.0)
        ),
        batch=1 if batch is None else batch.integer(minimum=1),
    )


def _stats_from_json(stats: Node, default_threads: int) -> LatencyStats:
    runs, threads = stats.optional("runs"), stats.optional("threads")
    return LatencyStats(
        p50_ms=stats.key("p50").number(minimum=0.0),
        p95_ms=stats.key("p95").number(minimum=0.0),
        runs=0 if runs is None else runs.integer(),
        threads=default_threads if threads is None else threads.integer(),
    )


def per_class_json(classes: ClassAccuracy | None) -> list[float | None] | None:
    return None if classes is None else list(classes.per_class)


def confusion_json(classes: ClassAccuracy | None) -> list[list[int]] | None:
    return None if classes is None else [list(row) for row in classes.confusion]


def classes_from_json(per_class: Node | None, confusion: Node | None) -> ClassAccuracy | None:
    """Both keys or neither: a confusion matrix is square, one row (and accuracy) a class."""
    if per_class is None or confusion is None:
        return None
    accuracies = per_class.sequence(_class_accuracy)
    rows = confusion.sequence(lambda row: row.sequence(Node.integer))
    if any(len(row) != len(rows) for row in rows) or len(accuracies) != len(rows):
        raise ShapeError(
            f"{confusion.where}: a {len(rows)}-class confusion matrix for {len(accuracies)} classes"
        )
    return ClassAccuracy(accuracies, rows)


def _class_accuracy(node: Node) -> float | None:
    return None if node.value is None else node.number(minimum=0.0, maximum=1.0)  # null: no test image


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


def changed_from_json(counts: Node | None, images: Node | None) -> ChangedPredictions | None:
    if counts is None:
        return None
    other = counts.optional("other")
    return ChangedPredictions(
        fixed=counts.key("fixed").integer(),
        broken=counts.key("broken").integer(),
        other=0 if other is None else other.integer(),
        images=() if images is None else images.sequence(_changed_image_from_json)[:CHANGED_LISTED],
    )


def _changed_image_from_json(node: Node) -> ChangedImage:
    pixels = node.optional("pixels")
    return ChangedImage(
        index=node.key("index").integer(),
        label=node.key("label").integer(),
        baseline=node.key("baseline").integer(),
        prediction=node.key("prediction").integer(),
        pixels=b"" if pixels is None else _thumbnail(pixels),
    )


def _thumbnail(node: Node) -> bytes:
    try:
        pixels = base64.b64decode(node.string(), validate=True)
    except binascii.Error:
        node.fail("base64 text")
    if len(pixels) != THUMBNAIL_SIDE * THUMBNAIL_SIDE:
        raise ShapeError(
            f"{node.where}: expected {THUMBNAIL_SIDE * THUMBNAIL_SIDE} pixels, got {len(pixels)}"
        )
    return pixels
