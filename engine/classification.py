"""Per-class accuracy, the confusion matrix and the predictions quantization changed, from any classifier.

Everything here is a function over `(images, labels)` batches and a `predict(images) -> class ids` callable,
so a Keras model, a .tflite file or a streamed tf.data pipeline all feed it alike. numpy only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from engine.evaluation_results import (
    CHANGED_LISTED,
    CHANGED_PICTURES,
    THUMBNAIL_SIDE,
    ChangedImage,
    ChangedPredictions,
    ClassAccuracy,
)

Batches = Iterable[tuple[np.ndarray, np.ndarray]]
Predict = Callable[[np.ndarray], np.ndarray]
EVAL_BATCH = 256


def array_batches(
    images: np.ndarray, labels: np.ndarray, size: int = EVAL_BATCH
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """In-memory arrays as the batches `evaluate` reads."""
    for start in range(0, len(images), size):
        yield images[start : start + size], labels[start : start + size]


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A model's predictions on the test set and what follows from them."""

    labels: np.ndarray
    predictions: np.ndarray
    classes: ClassAccuracy
    changed: ChangedPredictions | None  # None without a baseline to compare with

    @property
    def accuracy(self) -> float:
        return float(np.count_nonzero(self.predictions == self.labels)) / max(1, len(self.labels))


def class_accuracy(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> ClassAccuracy:
    classes = max(num_classes, int(labels.max(initial=-1)) + 1, int(predictions.max(initial=-1)) + 1)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels.astype(np.int64), predictions.astype(np.int64)), 1)
    totals = confusion.sum(axis=1)
    per_class = tuple(float(confusion[c, c] / totals[c]) if totals[c] else None for c in range(classes))
    return ClassAccuracy(per_class, tuple(tuple(int(n) for n in row) for row in confusion))


def thumbnail(image: np.ndarray) -> bytes:
    """A THUMBNAIL_SIDE² grayscale uint8 copy of one image (float in [0, 1] or uint8, HxW or HxWxC)."""
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 3:
        pixels = pixels.mean(axis=2)
    if pixels.ndim != 2 or pixels.size == 0:
        return b""
    if np.asarray(image).dtype != np.uint8 and float(pixels.max(initial=0.0)) <= 1.0:
        pixels = pixels * 255.0
    rows = (np.arange(THUMBNAIL_SIDE) * pixels.shape[0]) // THUMBNAIL_SIDE
    cols = (np.arange(THUMBNAIL_SIDE) * pixels.shape[1]) // THUMBNAIL_SIDE
    return np.clip(np.rint(pixels[np.ix_(rows, cols)]), 0, 255).astype(np.uint8).tobytes()


def evaluate(
    predict: Predict, batches: Batches, num_classes: int, baseline: np.ndarray | None = None
) -> Evaluation:
    """Run `predict` over the batches; with the `baseline`'s predictions, also what changed against them.

    Only the pictures a report can show are kept: at most CHANGED_PICTURES thumbnails of each kind (fixed,
    broken, other) during the pass, of which the first CHANGED_PICTURES, broken ones first, are stored.
    """
    all_labels: list[np.ndarray] = []
    all_predictions: list[np.ndarray] = []
    found: dict[str, list[ChangedImage]] = {"broken": [], "fixed": [], "other": []}
    counts = {"broken": 0, "fixed": 0, "other": 0}
    offset = 0
    for images, labels in batches:
        predictions = np.asarray(predict(images)).astype(np.int64).reshape(-1)
        labels = np.asarray(labels).astype(np.int64).reshape(-1)
        if len(predictions) != len(labels):
            raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
        all_labels.append(labels)
        all_predictions.append(predictions)
        if baseline is not None:
            reference = baseline[offset : offset + len(labels)]
            for position in np.flatnonzero(reference != predictions):
                image = ChangedImage(
                    index=offset + int(position),
                    label=int(labels[position]),
                    baseline=int(reference[position]),
                    prediction=int(predictions[position]),
                )
                counts[image.kind] += 1
                kept = found[image.kind]
                if len(kept) < CHANGED_LISTED:
                    pixels = thumbnail(images[position]) if len(kept) < CHANGED_PICTURES else b""
                    kept.append(_with_pixels(image, pixels))
        offset += len(labels)
    labels = np.concatenate(all_labels) if all_labels else np.zeros(0, np.int64)
    predictions = np.concatenate(all_predictions) if all_predictions else np.zeros(0, np.int64)
    if baseline is not None and len(baseline) != len(labels):
        raise ValueError(f"the baseline has {len(baseline)} predictions for {len(labels)} test images")
    changed = None
    if baseline is not None:
        ordered = [*found["broken"], *found["fixed"], *found["other"]][:CHANGED_LISTED]
        images = tuple(
            image if position < CHANGED_PICTURES else _with_pixels(image, b"")
            for position, image in enumerate(ordered)
        )
        changed = ChangedPredictions(counts["fixed"], counts["broken"], counts["other"], images)
    return Evaluation(labels, predictions, class_accuracy(labels, predictions, num_classes), changed)


def _with_pixels(image: ChangedImage, pixels: bytes) -> ChangedImage:
    return ChangedImage(image.index, image.label, image.baseline, image.prediction, pixels)
