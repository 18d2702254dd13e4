"""Every table and figure pqat-tui shows, as pure functions of RunResults returning rich renderables.

The app's panels, the headless `run` summary and the exported reports all draw from these functions, so
a number looks the same wherever it appears.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.bar import Bar
from rich.console import Group
from rich.table import Table
from rich.text import Text

from engine.recipe import Recipe, recipe_of_results, runs_as_pqat
from engine.results import DatasetInfo, ModelResult, RunResults, WeightSparsity
from engine.stages import MODEL_OF_STAGE, Stage, StageName, stage_key
from pqat_tui.deployed import deployed_label, deployed_renderables
from pqat_tui.evaluation_tables import (
    changed_table,
    latency_caption,
    latency_cell,
    latency_conclusions,
    latency_view,
    lost_most_lines,
    per_class_view,
)
from pqat_tui.fit import FitToWidth, fit_table, fit_variants
from pqat_tui.layer_tables import (
    FLOAT32_BYTES,
    FULL,
    LayerView,
    fmt_count,
    fmt_size,
    hidden_rows_caption,
    select_rows,
    sparsity_by_type_table,
)

MODEL_LABELS = {
    "baseline": "Baseline",
    "pruned": "Pruned",
    "qat": "QAT",
    "pqat": "PQAT",
    "ptq": "PTQ",
}
TFLITE_MODELS = ("qat", "pqat", "ptq")
# The .tflite tables also list the float reference (`models.float`, converted without optimization).
TFLITE_LABELS = {"float": "Float", **MODEL_LABELS}
MISSING = Text("—", style="dim")
# A tensor counts as having kept its sparsity if it is within this of the target (the example's tolerance).
SPARSITY_TOLERANCE = 0.005


def _label(model_name: str) -> str:
    """A model's name as tables show it. Every string from a run's files reaches a table as Text, never as
    a str, which rich would parse as markup: a file named `digits[/x].npz` is shown, not obeyed."""
    return MODEL_LABELS.get(model_name, model_name)


def _title(text: str) -> Text:
    """A table title holding a user's string: Text, styled as rich styles a str title."""
    return Text(text, style="table.title")


def fmt_accuracy(value: float | None) -> Text:
    return MISSING if value is None else Text(f"{value:.4f}")


def fmt_kb(n_bytes: int | None) -> Text:
    return MISSING if n_bytes is None else Text(f"{n_bytes / 1000:.2f}")


def fmt_fraction(value: float | None, target: float | None = None) -> Text:
    if value is None:
        return MISSING
    below = target is not None and value < target - SPARSITY_TOLERANCE
    return Text(f"{value:.1%}", style="bold red" if below else "")


def target_sparsity(results: RunResults) -> float:
    return float(results.config.get("prune", {}).get("sparsity", 0.5))


def overall_sparsity(weights: Sequence[WeightSparsity]) -> float | None:
    """Zeros over all elements of the given tensors, or None where there are none."""
    total = sum(w.total for w in weights)
    return sum(w.zeros for w in weights) / total if total else None


def kernel_sparsity(model: ModelResult | None) -> float | None:
    return None if model is None else overall_sparsity(model.kernel_sparsity())


def tflite_weight_sparsity(model: ModelResult | None) -> float | None:
    """Zeros in the .tflite weight tensors of the layers pruning made sparse."""
    if model is None or model.tflite is None:
        return None
    return overall_sparsity(model.pruned_tflite_weights())


SAMPLE_FILE_NAME = "mnist-sample.npz"


def data_source_label(info: DatasetInfo) -> str:
    """The source as read: "sample (offline stand-in for mnist)" when the bundled sample replaced MNIST."""
    stand_in = (
        info.source != "sample"
        and info.note is not None
        and info.loaded_from is not None
        and Path(info.loaded_from).name == SAMPLE_FILE_NAME
    )
    return f"sample (offline stand-in for {info.source})" if stand_in else info.source


def dataset_table(info: DatasetInfo) -> Table:
    table = Table(title="Dataset", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("source", Text(data_source_label(info)))
    if info.loaded_from:
        table.add_row("file", Text(info.loaded_from))
    table.add_row("train images", f"{info.train:,}")
    table.add_row("test images", f"{info.test:,}")
    if info.image_shape:
        table.add_row("image shape", image_shape_text(info.image_shape))
    if info.classes:
        table.add_row("classes", str(len(info.classes)))
    if info.class_counts:
        counts = " ".join(f"{info.class_name(i)}:{n}" for i, n in enumerate(info.class_counts))
        table.add_row("per class", counts)
    if info.note:
        table.add_row("note", Text(info.note, style="yellow"))
    return table


def image_shape_text(shape: Sequence[int]) -> str:
    """(32, 32, 3) as "32×32×3 (RGB)": height × width × channels, and what the channels are."""
    text = "×".join(str(n) for n in shape)
    kind = {1: "grey", 3: "RGB"}.get(shape[-1]) if len(shape) == 3 else None
    return f"{text} ({kind})" if kind else text


def class_balance_table(info: DatasetInfo, width: int = 16) -> Table:
    """Training images per class, with a bar each: an unbalanced set shows at a glance."""
    table = Table(title="Class balance (train)", title_justify="left")
    table.add_column("class", justify="right", no_wrap=True)
    table.add_column("images", justify="right", no_wrap=True)
    table.add_column("share", no_wrap=True)
    largest = max(info.class_counts, default=0)
    total = sum(info.class_counts)
    for label, count in enumerate(info.class_counts):
        table.add_row(info.class_name(label), f"{count:,}", _bar(count, largest, width))
    if not info.class_counts:
        table.add_row(MISSING, MISSING, MISSING)
    elif total:
        table.caption = f"smallest class {min(info.class_counts) / total:.1%}, largest {largest / total:.1%}"
    return table


def accuracy_table(results: RunResults) -> Table:
    table = Table(title="Accuracy on the test set", title_justify="left")
    table.add_column("model")
    table.add_column("Keras", justify="right", no_wrap=True)
    table.add_column("TFLite", justify="right", no_wrap=True)
    for name, label in MODEL_LABELS.items():
        model = results.models.get(name)
        tflite = model.tflite if model else None
        table.add_row(
            label,
            fmt_accuracy(model.keras_accuracy if model else None),
            fmt_accuracy(tflite.accuracy if tflite else None),
        )
    return table


def sparsity_table(
    results: RunResults, models: Sequence[str] = ("pruned", "qat", "pqat"), view: LayerView = FULL
) -> Table:
    """Per-weight sparsity of several models side by side; below-target kernels are red, the kernels of
    layers pruning left dense are marked so. `view`: all weights with their zero counts, or (narrower) the
    largest ones and a name filter."""
    target = target_sparsity(results)
    table = view.table(f"Per-layer sparsity (target {target:.0%})")
    table.add_column("weight", overflow="fold")
    table.add_column("params", justify="right", no_wrap=True)
    if not view.narrow:
        table.add_column("size", justify="right", no_wrap=True)
    shown = [m for m in models]
    for name in shown:
        table.add_column(_label(name), justify="right", no_wrap=True)
    sizes: dict[str, int] = {}
    for name in shown:
        model = results.models.get(name)
        for w in model.sparsity if model else ():
            sizes.setdefault(w.name, w.total)
    rows, hidden = select_rows(list(sizes), view, lambda weight: weight, lambda weight: sizes[weight])
    for weight in rows:
        cells = [_sparsity_cell(results.models.get(name), weight, target, view.full) for name in shown]
        size = [] if view.narrow else [fmt_size(sizes[weight] * FLOAT32_BYTES)]
        table.add_row(Text(weight), fmt_count(sizes[weight]), *size, *cells)
    if not sizes or not rows:
        empty = "no model yet" if not sizes else "no weight matches"
        table.add_row(Text(empty, style="dim"), *[MISSING] * (len(table.columns) - 1))
    table.caption = hidden_rows_caption(hidden, view, "weights")
    return table


def sparsity_panel(results: RunResults, view: LayerView) -> Group | Table:
    """The training panels' sparsity: by layer type first when the model has many weights."""
    models = ("pruned", "qat", "pqat")
    table = sparsity_table(results, models, view)
    if len({w.name for m in models if m in results.models for w in results.models[m].sparsity}) <= view.rows:
        return table
    return Group(sparsity_by_type_table(results, models, MODEL_LABELS, view), table)


def _sparsity_cell(model: ModelResult | None, weight: str, target: float, counts: bool) -> Text:
    """The weight's sparsity (red below target), its zero count when `counts`, `dense` for a kernel
    pruning left dense."""
    found = next((w for w in model.sparsity if w.name == weight), None) if model else None
    if model is None or found is None:
        return MISSING
    dense = model.left_dense(weight) and "kernel" in weight
    return Text.assemble(
        fmt_fraction(found.fraction, target if "kernel" in weight and not dense else None),
        Text(f" {found.zeros}/{found.total}", style="dim") if counts else "",
        Text(" dense", style="dim") if dense else "",
    )


def tflite_table(results: RunResults, models: tuple[str, ...] | None = None) -> Table:
    """Size, accuracy and the zeros kept inside each converted .tflite file (`models`, default the `pqat`
    recipe's), beside the float reference."""
    target = target_sparsity(results)
    table = Table(title="TFLite models", title_justify="left")
    table.add_column("model")
    for header in ("raw KB", "zipped KB", "weight zeros", "accuracy"):
        table.add_column(header, justify="right", no_wrap=True)
    for name in ("float", *(models or TFLITE_MODELS)):
        model = results.models.get(name)
        tflite = model.tflite if model else None
        if name == "float" and tflite is None:
            continue  # a run from before the float reference existed
        table.add_row(
            deployed_label(name),
            fmt_kb(tflite.bytes if tflite else None),
            fmt_kb(tflite.zipped_bytes if tflite else None),
            # The float reference was never pruned: its zeros are not held against the target.
            fmt_fraction(tflite_weight_sparsity(model), target if name != "float" else None),
            fmt_accuracy(tflite.accuracy if tflite else None),
        )
    return table


def tflite_weights_table(results: RunResults, name: str, view: LayerView = FULL) -> Table:
    """The weight tensors inside one .tflite file and their zeros (the largest first, when compacted)."""
    model = results.models.get(name)
    table = view.table(_title(f"Weights inside {TFLITE_LABELS.get(name, name)} .tflite"))
    table.add_column("tensor", overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("zeros", justify="right", no_wrap=True)
    table.add_column("sparsity", justify="right", no_wrap=True)
    weights = list(model.tflite.weight_sparsity) if model and model.tflite else []
    rows, hidden = select_rows(weights, view, lambda w: w.name, lambda w: w.total)
    for w in rows:
        dense = model is not None and model.left_dense(w.name)
        table.add_row(
            Text(w.name),
            fmt_size(w.total * _tensor_bytes(w.name)),
            f"{w.zeros:,}/{w.total:,}",
            Text.assemble(fmt_fraction(w.fraction), Text(" dense", style="dim") if dense else ""),
        )
    table.caption = hidden_rows_caption(hidden, view, "tensors")
    return table


def _tensor_bytes(label: str) -> int:
    """Bytes per element of a .tflite weight tensor, from the `(int8)` its label ends with."""
    for dtype, size in (("int8)", 1), ("int16)", 2), ("float16)", 2)):
        if label.endswith(dtype):
            return size
    return FLOAT32_BYTES


def _bar(value: float | None, maximum: float, width: int = 12) -> Bar | Text:
    if value is None or maximum <= 0:
        return MISSING
    return Bar(size=maximum, begin=0, end=value, width=width)


def bars_tell_apart(values: Sequence[float | None], maximum: float, width: int) -> bool:
    """Whether bars `width` cells long for `values` (on a 0..maximum scale) differ by a whole cell or more.

    Accuracies of 0.931 and 0.936 draw the same bar: a column of such bars only takes room from the digits.
    """
    present = [v for v in values if v is not None]
    if len(present) < 2 or maximum <= 0:
        return False
    return (max(present) - min(present)) / maximum * width >= 1


def comparison_table(results: RunResults, bar_width: int = 12, *, latency_notes: bool = True) -> Table:
    """Every model in one table, with bars for zipped size and accuracy where the bars show a difference.

    `latency_notes`: each latency says how it compares with float ("1.4x faster"); narrow, only the time.
    """
    table = Table(title="Comparison", title_justify="left")
    table.add_column("model")
    for header in ("Keras acc", "TFLite acc", "sparsity", "raw KB", "zipped KB"):
        table.add_column(header, justify="right", no_wrap=True)
    zipped: dict[str, float | None] = {}
    accuracies: dict[str, float | None] = {}
    for name in MODEL_LABELS:
        model = results.models.get(name)
        tflite = model.tflite if model else None
        zipped[name] = tflite.zipped_bytes if tflite else None
        accuracy = tflite.accuracy if tflite and tflite.accuracy is not None else None
        accuracies[name] = model.keras_accuracy if accuracy is None and model is not None else accuracy
    table.add_column("latency", justify="right", no_wrap=True)
    largest = max((v for v in zipped.values() if v is not None), default=0)
    bars = {
        "zipped size": (zipped, largest),
        "accuracy": (accuracies, 1.0),
    }
    bars = {k: (v, m) for k, (v, m) in bars.items() if bars_tell_apart(list(v.values()), m, bar_width)}
    for header in bars:
        table.add_column(header, no_wrap=True)
    target = target_sparsity(results)
    for name, label in MODEL_LABELS.items():
        model = results.models.get(name)
        tflite = model.tflite if model else None
        sparsity = kernel_sparsity(model) if name != "ptq" else tflite_weight_sparsity(model)
        table.add_row(
            label,
            fmt_accuracy(model.keras_accuracy if model else None),
            fmt_accuracy(tflite.accuracy if tflite else None),
            fmt_fraction(sparsity, target if name != "baseline" else None),
            fmt_kb(tflite.bytes if tflite else None),
            fmt_kb(tflite.zipped_bytes if tflite else None),
            latency_cell(results, name, with_note=latency_notes),
            *[_bar(values[name], maximum, bar_width) for values, maximum in bars.values()],
        )
    table.caption = latency_caption(results)
    return table


def comparison(results: RunResults) -> FitToWidth:
    """The comparison at whatever width it is drawn: shorter bars and plain latencies, then no bars, then
    narrower, then a column a model."""
    wide = comparison_table(results)
    return FitToWidth(wide, *fit_variants(comparison_table(results, bar_width=8, latency_notes=False)))


def conclusions(results: RunResults) -> list[str]:
    """The example's findings, stated in this run's figures. Only what the results support is said."""
    models = results.models
    lines: list[str] = []
    base, pruned = models.get("baseline"), models.get("pruned")
    if base and pruned and base.keras_accuracy is not None and pruned.keras_accuracy is not None:
        delta = (pruned.keras_accuracy - base.keras_accuracy) * 100
        lines.append(
            f"Pruning to {kernel_sparsity(pruned) or 0:.1%} sparsity changed test accuracy by "
            f"{delta:+.2f} points "
            f"({base.keras_accuracy:.4f} → {pruned.keras_accuracy:.4f})."
        )
    qat_s, pqat_s = kernel_sparsity(models.get("qat")), kernel_sparsity(models.get("pqat"))
    if qat_s is not None and pqat_s is not None:
        lines.append(f"PQAT kept {pqat_s:.1%} sparsity, QAT kept {qat_s:.1%}.")
    qat, pqat = models.get("qat"), models.get("pqat")
    if qat and pqat and qat.tflite and pqat.tflite:
        saving = 1 - pqat.tflite.zipped_bytes / qat.tflite.zipped_bytes
        lines.append(
            f"PQAT is {saving:.0%} smaller zipped than QAT "
            f"({pqat.tflite.zipped_bytes / 1000:.2f} KB vs {qat.tflite.zipped_bytes / 1000:.2f} KB)."
        )
        inside = tflite_weight_sparsity(pqat)
        if inside is not None:
            dense = len(pqat.layers_left_dense)
            where = f"the weights of its pruned layers ({dense} left dense)" if dense else "its weights"
            lines.append(f"The PQAT .tflite file keeps {inside:.1%} zeros in {where}.")
    ptq = models.get("ptq")
    pqat_acc = pqat.tflite.accuracy if pqat and pqat.tflite else None
    ptq_acc = ptq.tflite.accuracy if ptq and ptq.tflite else None
    if pqat_acc is not None and ptq_acc is not None:
        delta = (pqat_acc - ptq_acc) * 100
        lines.append(
            f"PQAT TFLite accuracy {pqat_acc:.4f} vs post-training quantization "
            f"{ptq_acc:.4f} ({delta:+.2f} points)."
        )
    return lines + latency_conclusions(results) + lost_most_lines(results)


def conclusions_text(results: RunResults) -> Text:
    lines = conclusions(results)
    if not lines:
        return Text("No conclusions yet: run the pipeline's stages first.", style="dim")
    return Text("\n").join(Text(f"• {line}") for line in lines)


def failures_table(results: RunResults) -> Table:
    """The stages that failed and why, in the engine's own words."""
    table = Table(title="Failed stages", title_justify="left", style="red")
    table.add_column("stage")
    table.add_column("error")
    for stage, error in results.failures.items():
        table.add_row(Text(stage), Text(error))
    return table


@dataclass(frozen=True)
class StageStatus:
    """Where one stage stands in a run's results: "done", "failed" or "not run"."""

    stage: Stage | StageName
    state: str
    seconds: float | None = None
    error: str | None = None


def stage_statuses(results: RunResults) -> list[StageStatus]:
    """Every stage of the run's recipe in its order; a stage counts as done when it has a time or left its
    output."""
    statuses = []
    recipe = recipe_of_results(results.config)
    for name in recipe.names():
        stage = stage_key(name, recipe)
        seconds = results.stage_seconds.get(name)
        error = results.failures.get(name)
        if error is not None:
            state = "failed"
        elif seconds is not None or _has_output(results, stage, recipe):
            state = "done"
        else:
            state = "not run"
        statuses.append(StageStatus(stage, state, seconds, error))
    return statuses


def _has_output(results: RunResults, stage: Stage | StageName, recipe: Recipe) -> bool:
    models = results.models
    if not runs_as_pqat(recipe, stage.value):
        spec = recipe.stage(stage.value)
        made = spec.models or recipe.converted_models(spec.name)
        if spec.technique == "data":
            return results.dataset is not None
        if spec.technique == "evaluate":
            return any((t := models[m].tflite) and t.accuracy is not None for m in made if m in models)
        return any(m in models for m in made)
    if stage is Stage.DATA:
        return results.dataset is not None
    if stage in MODEL_OF_STAGE:
        return MODEL_OF_STAGE[stage] in models
    converted = [t for n in ("qat", "pqat") if n in models and (t := models[n].tflite) is not None]
    if stage is Stage.CONVERT:
        return bool(converted)
    return any(t.accuracy is not None for t in converted)


def _stage_outcome(results: RunResults, stage: Stage | StageName, recipe: Recipe) -> str:
    """What a finished stage produced, in figures: the line a reader looks for first."""
    models = results.models
    if not runs_as_pqat(recipe, stage.value):
        return _recipe_stage_outcome(results, stage.value, recipe)
    if stage is Stage.DATA:
        ds = results.dataset
        return "" if ds is None else f"{ds.train:,} train / {ds.test:,} test ({ds.source})"
    if stage is Stage.PTQ:
        tflite = models["ptq"].tflite if "ptq" in models else None
        if tflite is None:
            return ""
        return f"TFLite accuracy {fmt_accuracy(tflite.accuracy)}, zipped {fmt_kb(tflite.zipped_bytes)} KB"
    if stage in MODEL_OF_STAGE:
        model = models.get(MODEL_OF_STAGE[stage])
        if model is None:
            return ""
        parts = [f"accuracy {fmt_accuracy(model.keras_accuracy)}"]
        if stage is not Stage.BASELINE and model.kernel_sparsity():
            parts.append(f"kernel sparsity {fmt_fraction(kernel_sparsity(model))}")
        return ", ".join(parts)
    done = [(MODEL_LABELS[n], models[n].tflite) for n in ("qat", "pqat") if n in models and models[n].tflite]
    if stage is Stage.CONVERT:
        return "zipped " + ", ".join(f"{label} {fmt_kb(t.zipped_bytes)} KB" for label, t in done if t)
    return "TFLite accuracy " + ", ".join(f"{label} {fmt_accuracy(t.accuracy)}" for label, t in done if t)


def _recipe_stage_outcome(results: RunResults, name: str, recipe: Recipe) -> str:
    """_stage_outcome of a stage `pqat` lacks, by technique: a model's accuracy, or its files' figures."""
    spec = recipe.stage(name)
    models = results.models
    if spec.models and spec.technique != "ptq":
        model = models.get(spec.models[0])
        if model is None:
            return ""
        parts = [f"accuracy {fmt_accuracy(model.keras_accuracy)}"]
        if model.kernel_sparsity() and kernel_sparsity(model) > 0:
            parts.append(f"kernel sparsity {fmt_fraction(kernel_sparsity(model))}")
        return ", ".join(parts)
    files = [(m, t) for m in recipe.converted_models(name) if m in models and (t := models[m].tflite)]
    if spec.technique == "convert":
        return "zipped " + ", ".join(f"{_label(m)} {fmt_kb(t.zipped_bytes)} KB" for m, t in files)
    figures = ", ".join(f"{_label(m)} {fmt_accuracy(t.accuracy)}" for m, t in files)
    if spec.technique == "ptq" and files:
        return f"TFLite accuracy {figures}, zipped {fmt_kb(files[0][1].zipped_bytes)} KB"
    return f"TFLite accuracy {figures}"


_STATE_STYLES = {"done": "green", "failed": "bold red", "not run": "yellow"}


def stage_table(results: RunResults) -> Table:
    """Each stage's status, time and headline figures; failed and missing stages stay visible."""
    table = Table(title="Stages", title_justify="left")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("time (s)", justify="right", no_wrap=True)
    table.add_column("outcome")
    statuses = stage_statuses(results)
    recipe = recipe_of_results(results.config)
    for status in statuses:
        if status.state == "failed":
            outcome = Text(status.error or "", style="red")
        elif status.state == "done":
            outcome = Text(_stage_outcome(results, status.stage, recipe))
        else:
            outcome = MISSING
        seconds = MISSING if status.seconds is None else Text(f"{status.seconds:.1f}")
        table.add_row(
            status.stage.title, Text(status.state, style=_STATE_STYLES[status.state]), seconds, outcome
        )
    total = sum(s.seconds for s in statuses if s.seconds is not None)
    table.add_section()
    table.add_row(Text("total", style="bold"), "", Text(f"{total:.1f}", style="bold"), "")
    return table


def _fmt_setting(value: Any) -> Text:
    if value is None:
        return MISSING
    if isinstance(value, float):
        return Text(f"{value:g}")
    return Text(str(value))


# Short headers keep the configuration table on one screen line per row.
_SETTING_LABELS = {
    "batch_size": "batch",
    "learning_rate": "learning rate",
    "validation_split": "val split",
    "representative_images": "repr. images",
}


def config_table(results: RunResults) -> Table:
    """The run's settings: one row per stage's section, one column per knob; plain values in the title."""
    config = results.config
    scalars = {k: v for k, v in config.items() if not isinstance(v, dict)}
    sections = {k: v for k, v in config.items() if isinstance(v, dict)}
    title = "Configuration"
    if scalars:
        title += " — " + " · ".join(f"{k}: {_fmt_setting(v)}" for k, v in scalars.items())
    table = Table(title=_title(title), title_justify="left")
    table.add_column("stage")
    keys: list[str] = []
    for values in sections.values():
        keys += [k for k in values if k not in keys]
    for key in keys:
        table.add_column(Text(_SETTING_LABELS.get(key, key.replace("_", " "))), justify="right", no_wrap=True)
    for section, values in sections.items():
        table.add_row(Text(section), *[_fmt_setting(values.get(k)) for k in keys])
    if not config:
        table.add_row(Text("not recorded", style="dim"))
    return table


VERSION_LABELS = {
    "python": "Python",
    "tensorflow": "TensorFlow",
    "tf_keras": "tf-keras",
    "tfmot": "TF Model Optimization",
    "litert": "LiteRT",
}


def versions_table(results: RunResults) -> Table:
    """The libraries the run used, then what it recorded about the machine (every other key)."""
    table = Table(title="Versions and machine", show_header=False, title_justify="left")
    table.add_column("component", style="bold")
    table.add_column("version")
    for key, label in VERSION_LABELS.items():
        version = results.versions.get(key)
        table.add_row(label, Text("not recorded", style="dim") if version is None else Text(version))
    for key, value in results.versions.items():
        if key not in VERSION_LABELS:
            table.add_row(Text(key.replace("_", " ")), Text(value))
    return table


def history_table(results: RunResults, name: str) -> Table:
    """One model's training, epoch by epoch, with every metric Keras logged."""
    model = results.models.get(name)
    history = model.history if model else ()
    table = Table(title=_title(f"Training history: {_label(name)}"), title_justify="left")
    table.add_column("epoch", justify="right", no_wrap=True)
    metric_names: list[str] = []
    for epoch in history:
        metric_names += [k for k in epoch.metrics if k not in metric_names]
    for metric in metric_names:
        table.add_column(Text(metric.replace("_", " ")), justify="right", no_wrap=True)
    for epoch in history:
        table.add_row(str(epoch.epoch), *[fmt_accuracy(epoch.metrics.get(m)) for m in metric_names])
    if not history:
        table.add_row(Text("not trained", style="dim"))
    return table


def run_summary(results: RunResults, view: LayerView = FULL) -> Group:
    """What `pqat-tui run` prints at the end, and the heart of every report. `view`: which weights the
    per-layer sparsity table shows (a large model's largest, in `run`)."""
    parts: list = []
    if results.dataset is not None:
        parts.append(fit_table(dataset_table(results.dataset)))
    parts += [
        fit_table(accuracy_table(results)),
        sparsity_table(results, view=view),
        fit_table(tflite_table(results)),
        latency_view(results),
        per_class_view(results),
        changed_table(results),
        *deployed_renderables(results),
        comparison(results),
        conclusions_text(results),
    ]
    if results.failures:
        parts.append(failures_table(results))
    return Group(*parts)
