"""A scripted engine for the app's tests: it replays the events of a real run, with no TensorFlow.

The figures are those of the reference pipeline on the bundled sample (baseline 0.945, pruned 0.940, QAT
kernel sparsity conv 0.0 / dense 0.016, PQAT 0.5 / 0.5, zipped QAT 17.0 KB vs PQAT 14.6 KB, PQAT TFLite
0.944, PTQ 0.939 at 14.8 KB), so panels and snapshots show what a person would see. Per-class figures and
changed predictions come from made-up but consistent predictions on the sample's real test images; the
latencies are those measured here on a sample run (float 10.3 µs, int8 about 7.2 µs an image).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.classification import array_batches, evaluate
from engine.config import PipelineConfig
from engine.evaluation_results import ClassAccuracy, Latency, LatencyStats
from engine.events import (
    BatchProgress,
    EpochEnded,
    LogMessage,
    StageCancelled,
    StageFailed,
    StageFinished,
    StageStarted,
)
from engine.protocol import Emit
from engine.recipe import Recipe, recipe_of, runs_as_pqat
from engine.results import (
    DatasetInfo,
    EpochMetrics,
    LayerSupport,
    ModelResult,
    RunResults,
    TFLiteInfo,
    WeightSparsity,
)
from engine.stages import MODEL_OF_STAGE, Stage, stage_key
from pqat_tui.engine_loader import EngineFactory, LoadedEngine

SAMPLE = Path(__file__).resolve().parent.parent / "assets" / "mnist-sample.npz"
PQAT_TFLITE = Path(__file__).resolve().parent / "data" / "pqat_sample.tflite"
BATCHES_PER_EPOCH = 4

# Recorded wall-clock seconds of each stage (fixed, so snapshots are stable).
STAGE_SECONDS = {
    Stage.DATA: 0.4,
    Stage.BASELINE: 14.2,
    Stage.PRUNE: 6.1,
    Stage.QAT: 3.9,
    Stage.PQAT: 4.3,
    Stage.CONVERT: 5.2,
    Stage.EVALUATE: 1.1,
    Stage.PTQ: 3.4,
}


def _weights(conv_zeros: int, dense_zeros: int) -> tuple[WeightSparsity, ...]:
    return (
        WeightSparsity("conv2d/kernel", conv_zeros, 108),
        WeightSparsity("conv2d/bias", 0, 12),
        WeightSparsity("dense/kernel", dense_zeros, 20280),
        WeightSparsity("dense/bias", 0, 10),
    )


def _tflite_weights(conv_zeros: int, dense_zeros: int) -> tuple[WeightSparsity, ...]:
    return (
        WeightSparsity("sequential/conv2d/Conv2D", conv_zeros, 108),
        WeightSparsity("sequential/dense/MatMul", dense_zeros, 20280),
    )


# tfmot's verdict on the example model's layers, as the real engine's Data stage records it.
EXAMPLE_SUPPORT = (
    LayerSupport("reshape", "Reshape", 0, False, "no weights", True, "passes int8 values through"),
    LayerSupport("conv2d", "Conv2D", 120, True, "prunes kernel", True, "int8 kernel; PQAT keeps its zeros"),
    LayerSupport("max_pooling2d", "MaxPooling2D", 0, False, "no weights", True, "passes int8 values through"),
    LayerSupport("flatten", "Flatten", 0, False, "no weights", True, "passes int8 values through"),
    LayerSupport("dense", "Dense", 20290, True, "prunes kernel", True, "int8 kernel; PQAT keeps its zeros"),
)


def _float_weights() -> tuple[WeightSparsity, ...]:
    return (
        WeightSparsity("conv2d/kernel (float32)", 0, 108),
        WeightSparsity("dense/kernel (float32)", 0, 20280),
    )


def epoch_metrics(stage: Stage, epoch: int, epochs: int) -> dict[str, float]:
    if stage not in STAGE_SECONDS:  # a collaborative branch's stage: PQAT's curve
        stage = Stage.PQAT
    """A plausible learning curve: loss falls and accuracy rises towards the stage's final figure."""
    final_accuracy = {Stage.BASELINE: 0.945, Stage.PRUNE: 0.941, Stage.QAT: 0.943, Stage.PQAT: 0.944}[stage]
    start = 0.80 if stage is Stage.BASELINE else final_accuracy - 0.01
    progress = epoch / max(epochs, 1)
    accuracy = start + (final_accuracy - start) * progress
    loss = round(0.9 - 0.7 * progress if stage is Stage.BASELINE else 0.22 - 0.03 * progress, 4)
    return {
        "loss": loss,
        "accuracy": round(accuracy, 4),
        "val_loss": round(loss * 0.95, 4),
        "val_accuracy": round(accuracy + 0.004, 4),
    }


def sample_dataset(config: PipelineConfig) -> DatasetInfo:
    data = np.load(SAMPLE)
    labels = data["y_train"]
    return DatasetInfo(
        source=config.data,
        train=int(len(labels)),
        test=int(len(data["y_test"])),
        class_counts=tuple(int(n) for n in np.bincount(labels, minlength=10)),
        loaded_from="assets/mnist-sample.npz",
        preview_images=tuple(bytes(image.tobytes()) for image in data["x_train"][:8]),
        preview_labels=tuple(int(label) for label in labels[:8]),
        image_shape=(28, 28, 1),
        classes=tuple(str(n) for n in range(10)),
        preview_shape=(28, 28, 1),
    )


# Test images each model gets wrong: (how many of the baseline's errors it keeps, how many new ones).
_ERRORS = {
    "baseline": (55, 0),
    "pruned": (48, 12),
    "qat": (47, 10),
    "pqat": (46, 10),
    "qat_tflite": (47, 11),
    "pqat_tflite": (45, 11),
    "ptq": (44, 17),
}
# Per-image latency in ms (p50, p95 at 1 thread; p50, p95 at 2 threads) and images a second (1 / 2 threads).
_LATENCY = {
    "float": (0.0103, 0.0111, 0.0083, 0.0120, 89_500.0, 127_800.0),
    "qat": (0.0072, 0.0079, 0.0071, 0.0093, 158_000.0, 251_000.0),
    "pqat": (0.0071, 0.0076, 0.0070, 0.0090, 164_000.0, 260_000.0),
    "ptq": (0.0073, 0.0080, 0.0072, 0.0094, 155_000.0, 249_000.0),
}


@functools.cache
def _test_set() -> tuple[np.ndarray, np.ndarray]:
    data = np.load(SAMPLE)
    return data["x_test"], data["y_test"].astype(np.int64)


def _predictions(model: str) -> np.ndarray:
    """Made-up predictions: right except on a fixed set of images, shared in part with the baseline's."""
    _, labels = _test_set()
    order = np.random.default_rng(0).permutation(len(labels))
    kept, new = _ERRORS[model]
    wrong = np.concatenate([order[:kept], order[60 : 60 + new] if new else order[:0]])
    predictions = labels.copy()
    predictions[wrong] = (labels[wrong] + 1 + wrong % 9) % 10
    return predictions


@functools.cache
def _evaluated(model: str, baseline: str | None = None):  # noqa: ANN202 - engine.classification.Evaluation
    images, labels = _test_set()
    predictions = _predictions(model)
    lookup = {image.tobytes(): int(p) for image, p in zip(images, predictions, strict=True)}

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.array([lookup[image.tobytes()] for image in batch])

    reference = _predictions(baseline) if baseline else None
    return evaluate(predict, array_batches(images, labels), 10, reference)


def _keras_classes(model: str) -> ClassAccuracy:
    return _evaluated(model).classes


def _latency(name: str) -> Latency:
    p50, p95, p50_all, p95_all, rate_1, rate_all = _LATENCY[name]
    return Latency(
        LatencyStats(p50, p95, 3000, 1), LatencyStats(p50_all, p95_all, 3000, 2), rate_1, rate_all, 32
    )


def _deployed(info: TFLiteInfo, name: str, errors: str) -> TFLiteInfo:
    """A converted file as Evaluate leaves it: accuracy, per class, changed against float, latency."""
    evaluation = _evaluated(errors, None if name == "float" else "baseline")
    return replace(
        info,
        accuracy=evaluation.accuracy,
        classes=evaluation.classes,
        changed=evaluation.changed,
        latency=_latency(name),
    )


def colour_dataset() -> DatasetInfo:
    """A 32x32 RGB class-folder dataset with named classes: red, green and blue squares on grey."""
    previews = []
    for channel in range(3):
        image = np.full((16, 16, 3), 60, np.uint8)
        image[4:12, 4:12, channel] = 250
        previews.append(image.tobytes())
    return DatasetInfo(
        source="photos/",
        train=240,
        test=60,
        class_counts=(80, 90, 70),
        loaded_from="photos/",
        preview_images=tuple(previews),
        preview_labels=(0, 1, 2),
        image_shape=(32, 32, 3),
        classes=("red", "green", "blue"),
        preview_shape=(16, 16, 3),
    )


def stage_output(
    stage: Stage, results: RunResults, history: tuple[EpochMetrics, ...], dataset: DatasetInfo | None = None
) -> RunResults:
    """What a finished stage adds to the results, as the real engine records it."""
    models = results.models
    if stage is Stage.DATA:
        dataset = dataset or sample_dataset(PipelineConfig(data="sample"))
        return replace(results, dataset=dataset, layer_support=EXAMPLE_SUPPORT)
    if stage is Stage.BASELINE:
        return results.with_model(
            "baseline", ModelResult(0.945, _weights(0, 0), None, history, _keras_classes("baseline"))
        )
    if stage is Stage.PRUNE:
        return results.with_model(
            "pruned", ModelResult(0.940, _weights(54, 10140), None, history, _keras_classes("pruned"))
        )
    if stage is Stage.QAT:
        return results.with_model(
            "qat", ModelResult(0.943, _weights(0, 325), None, history, _keras_classes("qat"))
        )
    if stage is Stage.PQAT:
        return results.with_model(
            "pqat", ModelResult(0.944, _weights(54, 10140), None, history, _keras_classes("pqat"))
        )
    if stage is Stage.CONVERT:
        qat = models["qat"]
        pqat = models["pqat"]
        results = results.with_model(
            "float", ModelResult(tflite=TFLiteInfo(84_840, 77_230, None, _float_weights()))
        )
        results = results.with_model(
            "qat", replace(qat, tflite=TFLiteInfo(24_432, 17_012, None, _tflite_weights(0, 325)))
        )
        return results.with_model(
            "pqat", replace(pqat, tflite=TFLiteInfo(24_432, 14_596, None, _tflite_weights(54, 10140)))
        )
    if stage is Stage.EVALUATE:
        for name, errors in (("float", "baseline"), ("qat", "qat_tflite"), ("pqat", "pqat_tflite")):
            model = models[name]
            assert model.tflite is not None
            results = results.with_model(name, replace(model, tflite=_deployed(model.tflite, name, errors)))
        return results
    assert stage is Stage.PTQ
    ptq = _deployed(TFLiteInfo(24_880, 14_803, None, _tflite_weights(54, 10140)), "ptq", "ptq")
    return results.with_model("ptq", ModelResult(None, (), ptq, ()))


def other_model_output(stage: Stage, results: RunResults, model: RunResults) -> RunResults:
    """What a finished stage records when it works on `model`'s model: its support table, its models."""
    if stage is Stage.DATA:
        return replace(results, layer_support=model.layer_support)
    names = {Stage.CONVERT: ("qat", "pqat"), Stage.EVALUATE: ("qat", "pqat")}.get(stage)
    for name in names or (MODEL_OF_STAGE[stage],):
        history = results.models[name].history if name in results.models else ()
        results = results.with_model(name, replace(model.models[name], history=history))
    return results


def recipe_stage_output(
    recipe: Recipe, name: str, results: RunResults, history: tuple[EpochMetrics, ...]
) -> RunResults:
    """What a stage `pqat` lacks adds (a collaborative branch): PQAT-like figures for its models."""
    spec = recipe.stage(name)
    models = results.models
    if spec.technique in ("train", "prune", "cluster", "qat"):
        zeros = (54, 10140) if spec.technique != "cluster" or spec.param("preserve_sparsity") else (0, 0)
        model = ModelResult(0.942, _weights(*zeros), None, history, _keras_classes("pqat"))
        return results.with_model(spec.models[0], model)
    files = recipe.converted_models(name)
    if spec.technique == "ptq":
        info = _deployed(TFLiteInfo(24_184, 15_329, None, _tflite_weights(54, 10140)), "ptq", "ptq")
        return results.with_model(files[0], ModelResult(None, (), info, ()))
    for model_name in files:
        model = models[model_name]
        if spec.technique == "convert":
            info = TFLiteInfo(
                24_432, 12_100, None, _tflite_weights(54, 10140), unique_values={"dense/kernel": 16}
            )
        else:
            assert model.tflite is not None
            info = _deployed(model.tflite, "pqat", "pqat_tflite")  # PQAT's figures
        results = results.with_model(model_name, replace(model, tflite=info))
    return results


class FakeEngine:
    """Replays a recorded run. `fail` makes stages fail with a message; a stage in `hold` pauses after its
    second batch until `release` is set or it is stopped (so a test can act while it "trains")."""

    def __init__(
        self,
        config: PipelineConfig | None = None,
        *,
        fail: dict[Stage, str] | None = None,
        hold: Iterable[Stage] = (),
        dataset: DatasetInfo | None = None,
        model: RunResults | None = None,
        finished: RunResults | None = None,
    ) -> None:
        """`model`: another model's results (e.g. tests/large_results.py) that the stages record instead of
        the example's. `finished`: a finished run's results, as a resumed run folder holds them (every stage
        done), e.g. tests/collab_results.py's."""
        self.config = config or PipelineConfig(data="sample").with_overrides(epochs=2, prune_epochs=2)
        self.recipe = recipe_of(self.config)
        self.fail = dict(fail or {})
        self.hold = set(hold)
        self.dataset = dataset  # what the Data stage "loads" (default: the bundled sample)
        self.release = threading.Event()
        self.holding = threading.Event()
        self.calls: list[Stage] = []
        self.model = model
        self._results = finished or RunResults(config=self.config.to_dict(), versions={"tensorflow": "fake"})
        self._done: set[Stage] = set(Stage) if finished else set()
        self.stale: set[Stage] = set()  # as a resumed run folder reports them (StoredSession)
        self._lock = threading.Lock()

    @property
    def results(self) -> RunResults:
        with self._lock:
            return self._results

    def done_stages(self) -> set[Stage]:
        with self._lock:
            return set(self._done)

    def tflite_model(self, name: str) -> bytes | None:
        """A real .tflite file for the inspector: the PQAT file our pipeline converted (tests/data)."""
        with self._lock:
            model = self._results.models.get(name)
            if model is None or model.tflite is None:
                return None
        return PQAT_TFLITE.read_bytes()

    def stale_stages(self) -> set[Stage]:
        with self._lock:
            return set(self.stale)

    def reconfigure(self, config: PipelineConfig) -> set[Stage]:
        """As StoredSession does: done stages whose fingerprint the new config changes turn stale."""
        from engine.run_store import stage_fingerprints

        before, after = stage_fingerprints(self.config, "fake"), stage_fingerprints(config, "fake")
        with self._lock:
            changed = {stage for stage in self._done if before[stage] != after[stage]}
            self.config = config
            self._drop(changed)
            self.stale |= changed
        return changed

    def _drop(self, stages: Iterable[Stage]) -> None:
        dropped = tuple(stages)
        self._done -= set(dropped)
        self._results = self._results.without(
            *(m for s in dropped for m in self.recipe.stage(stage_key(s).value).models),
            stages=tuple(s.value for s in dropped),
        )

    def _epochs(self, stage: Stage) -> int:
        if not runs_as_pqat(self.recipe, stage):
            return 1 if self.recipe.stage(stage.value).technique in ("prune", "cluster", "qat") else 0
        return {
            Stage.BASELINE: self.config.baseline.epochs,
            Stage.PRUNE: self.config.prune.epochs,
            Stage.QAT: self.config.qat.epochs,
            Stage.PQAT: self.config.pqat.epochs,
        }.get(stage, 0)

    def run_stage(self, stage: Stage, emit: Emit, stop: threading.Event) -> None:
        self.calls.append(stage)
        with self._lock:
            dropped = (stage, *(stage_key(s, self.recipe) for s in self.recipe.downstream_of(stage)))
            self._drop(dropped)
            self.stale -= set(dropped)
        epochs = self._epochs(stage)
        seconds = STAGE_SECONDS.get(stage, 2.0)
        emit(StageStarted(stage, epochs))
        history: list[EpochMetrics] = []
        for epoch in range(1, epochs + 1):
            final = epoch_metrics(stage, epoch, epochs)
            for batch in range(1, BATCHES_PER_EPOCH + 1):
                if stop.is_set():
                    emit(StageCancelled(stage, seconds / 2))
                    return
                emit(
                    BatchProgress(
                        stage,
                        epoch,
                        epochs,
                        batch,
                        BATCHES_PER_EPOCH,
                        {
                            "loss": round(final["loss"] + 0.02 * (BATCHES_PER_EPOCH - batch), 4),
                            "accuracy": round(final["accuracy"] - 0.005 * (BATCHES_PER_EPOCH - batch), 4),
                        },
                    )
                )
                if stage in self.hold and epoch == 1 and batch == 2:
                    self.holding.set()
                    while not (self.release.is_set() or stop.is_set()):
                        time.sleep(0.01)
            history.append(EpochMetrics(epoch, final))
            emit(EpochEnded(stage, epoch, epochs, final))
        if stage in self.fail:
            with self._lock:
                self._results = replace(
                    self._results, failures={**self._results.failures, stage.value: self.fail[stage]}
                )
            emit(LogMessage(self.fail[stage], "error", stage))  # the app adds "QAT: "
            emit(StageFailed(stage, seconds, self.fail[stage]))
            return
        if stage is Stage.PRUNE:
            emit(
                LogMessage("pruning schedule: constant sparsity 50% from step 0 every 100 steps", stage=stage)
            )
        with self._lock:
            if runs_as_pqat(self.recipe, stage):
                updated = stage_output(stage, self._results, tuple(history), self.dataset)
            else:
                updated = recipe_stage_output(self.recipe, stage.value, self._results, tuple(history))
            if self.model is not None:
                updated = other_model_output(stage, updated, self.model)
            self._results = replace(updated, stage_seconds={**updated.stage_seconds, stage.value: seconds})
            self._done.add(stage)
            results = self._results
        emit(StageFinished(stage, seconds, results))


def fake_factory(engine: FakeEngine, ready: threading.Event | None = None) -> EngineFactory:
    """An engine factory for PqatApp; with `ready`, loading lasts until the test sets it."""

    def load(config: PipelineConfig) -> LoadedEngine:
        if ready is not None:
            ready.wait(10)
        return LoadedEngine(engine, {"tensorflow": "fake"})

    return load
