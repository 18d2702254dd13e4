"""Every deployable .tflite file of a run compared: one table, an accuracy-vs-zipped-size chart, headlines.

Pure functions of RunResults (no TensorFlow), shared by the app's Compare panel, `run`'s summary and every
report. A run may hold any recipe's models (`clustered`, `pcqat`, `ptq_float16`, a user's own...): the files
are those `results.recipe`'s deployed models name, in its order, when the recipe is one we know, otherwise
every model with a .tflite file, in the order the results hold them; the float reference (`models.float`)
comes first, as the baseline every file is measured against.

A file is Pareto-best when no other file is at least as small and at least as accurate, and strictly one of
the two; the others are dominated: something else is smaller without being less accurate, or better for no
more bytes. Headlines name, for a few accuracy drops, the smallest file within that drop of the float
baseline, e.g. "PCQAT: 8.7x smaller than the float baseline for −1.0 points".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from engine.recipe import BUILT_IN, Recipe
from engine.results import ModelResult, RunResults, TFLiteInfo
from pqat_tui.fit import FitToWidth, compact_variants
from pqat_tui.scatter import Point, ScatterChart

REFERENCE = "float"  # the baseline converted without optimization: models.float
# How the tables name a recipe's models; a model not listed is shown by its own name.
DEPLOYED_LABELS = {
    "float": "Float",
    "baseline": "Baseline",
    "pruned": "Pruned",
    "qat": "QAT",
    "pqat": "PQAT",
    "ptq": "PTQ",
    "ptq_dynamic": "PTQ dynamic",
    "ptq_float16": "PTQ float16",
    "clustered": "Clustered",
    "sparse_clustered": "Sparse clustered",
    "cqat": "CQAT",
    "pcqat": "PCQAT",
    "pruned_2by4": "Pruned 2:4",
    "pqat_2by4": "PQAT 2:4",
}
# The accuracy drops (points against the float baseline) the headlines name the smallest file for.
HEADLINE_DROPS = (0.5, 1.0, 2.0)
BEST_MARK, DOMINATED_MARK = "●", "○"
BEST_STYLE, DOMINATED_STYLE = "bold green", "dim"
MISSING = Text("—", style="dim")
REFERENCE_CELL = Text("ref", style="dim")  # the float file's own Δ and ratio: it is what they are against


def deployed_label(name: str) -> str:
    return DEPLOYED_LABELS.get(name, name)


@dataclass(frozen=True)
class DeployedFile:
    """One .tflite file's figures, as the comparison shows them (None where not measured yet)."""

    name: str
    accuracy: float | None = None
    bytes: int | None = None
    zipped_bytes: int | None = None
    sparsity: float | None = None  # zeros in its kernels (those of layers pruning left dense not counted)
    unique_values: int | None = None  # the most unique values in one output channel, over its kernels
    sparse_encoded_bytes: int | None = None

    @property
    def label(self) -> str:
        return deployed_label(self.name)

    @property
    def measured(self) -> bool:
        """Converted and evaluated: it has a place on the chart."""
        return self.accuracy is not None and self.zipped_bytes is not None


@dataclass(frozen=True)
class Baseline:
    """What every file is measured against: the float .tflite file (its accuracy, or the Keras baseline's
    where the float file was not evaluated)."""

    accuracy: float | None
    zipped_bytes: int | None  # the float file's; None in runs from before the float reference
    accuracy_of: str = "the float baseline"  # "the Keras baseline" where the float file has no accuracy

    def points(self, accuracy: float) -> float | None:
        """`accuracy` against the baseline's, in points (+0.3: 0.3 points more accurate)."""
        return None if self.accuracy is None else (accuracy - self.accuracy) * 100

    def times_smaller(self, zipped_bytes: int) -> float | None:
        return None if self.zipped_bytes is None or zipped_bytes <= 0 else self.zipped_bytes / zipped_bytes


# --- figures ------------------------------------------------------------------------------------------


def known_recipe(results: RunResults) -> Recipe | None:
    """The built-in recipe whose graph `results.recipe` is; None for none, or a user's own recipe (whose
    techniques results.json does not record)."""
    if results.recipe is None:
        return None
    return next((r for r in BUILT_IN.values() if r.to_json() == results.recipe), None)


def deployed_names(results: RunResults) -> list[str]:
    """The files to compare, in order: the float reference, then the recipe's deployed models (those not yet
    converted too, when the recipe is known), then any other model with a .tflite file."""
    names = [REFERENCE] if _tflite_of(results.models.get(REFERENCE)) else []
    recipe = known_recipe(results)
    if recipe is not None:
        names += [n for n in recipe.deployed_models() if n not in names]
    names += [n for n, m in results.models.items() if m.tflite is not None and n not in names]
    return names


def _tflite_of(model: ModelResult | None) -> TFLiteInfo | None:
    return None if model is None else model.tflite


def deployed_file(results: RunResults, name: str) -> DeployedFile:
    model = results.models.get(name)
    tflite = _tflite_of(model)
    if model is None or tflite is None:
        return DeployedFile(name)
    weights = model.pruned_tflite_weights()
    total = sum(w.total for w in weights)
    return DeployedFile(
        name=name,
        accuracy=tflite.accuracy,
        bytes=tflite.bytes,
        zipped_bytes=tflite.zipped_bytes,
        sparsity=sum(w.zeros for w in weights) / total if total else None,
        unique_values=max(tflite.unique_values.values(), default=None),
        sparse_encoded_bytes=tflite.sparse_encoded_bytes,
    )


def deployed_files(results: RunResults) -> list[DeployedFile]:
    return [deployed_file(results, name) for name in deployed_names(results)]


def baseline_of(results: RunResults) -> Baseline:
    reference = _tflite_of(results.models.get(REFERENCE))
    accuracy = reference.accuracy if reference is not None else None
    if accuracy is None:
        keras = results.models.get("baseline")
        return Baseline(
            keras.keras_accuracy if keras is not None else None,
            reference.zipped_bytes if reference is not None else None,
            "the Keras baseline",
        )
    return Baseline(accuracy, reference.zipped_bytes if reference is not None else None)


def pareto_best(points: Mapping[str, tuple[float, float]]) -> set[str]:
    """The names of the (size, accuracy) points no other point dominates: none is at least as small and at
    least as accurate while strictly smaller or strictly more accurate. Equal points are both kept."""

    def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] <= b[0] and a[1] >= b[1] and (a[0] < b[0] or a[1] > b[1])

    return {name for name, p in points.items() if not any(dominates(q, p) for q in points.values())}


def best_within(files: Iterable[DeployedFile], baseline: Baseline, drop_points: float) -> DeployedFile | None:
    """The smallest file (zipped) whose accuracy is at most `drop_points` below the baseline's; of equal
    sizes, the more accurate. None when no file is that close, or nothing is measured."""

    def close(file: DeployedFile) -> bool:
        points = baseline.points(file.accuracy) if file.accuracy is not None else None
        # Rounded: 0.933 against 0.943 is 1.0 point down, not 1.0000000000000009.
        return (
            file.measured
            and file.name != REFERENCE
            and points is not None
            and round(points, 6) >= -drop_points
        )

    return min(filter(close, files), key=lambda f: (f.zipped_bytes or 0, -(f.accuracy or 0.0)), default=None)


def fmt_points(points: float) -> str:
    """0.4 points down as "−0.4" (a minus sign, not a hyphen), up as "+0.2", within rounding as "0.0"."""
    text = f"{points:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text.replace("-", "−")


def fmt_times(ratio: float) -> str:
    return f"{ratio:.1f}x"


def headline(file: DeployedFile, baseline: Baseline) -> str:
    """ "PCQAT: 8.7x smaller than the float baseline for −1.0 points" (its zipped size, and points against
    the Keras baseline, where there is no float file to compare with)."""
    assert file.accuracy is not None and file.zipped_bytes is not None
    points = baseline.points(file.accuracy)
    ratio = baseline.times_smaller(file.zipped_bytes)
    size = (
        f"{fmt_times(ratio)} smaller than the float baseline"
        if ratio is not None
        else f"{file.zipped_bytes / 1000:.2f} KB zipped"
    )
    against = (
        ""
        if ratio is not None and baseline.accuracy_of == "the float baseline"
        else f" against {baseline.accuracy_of}"
    )
    change = "" if points is None else f" for {fmt_points(points)} points{against}"
    return f"{file.label}: {size}{change}"


def headlines(results: RunResults, drops: Sequence[float] = HEADLINE_DROPS) -> list[str]:
    """For each accuracy drop, the smallest file within it (one line per file, naming every drop it wins),
    then the Pareto-best files. Nothing is said that the results do not hold."""
    files = deployed_files(results)
    baseline = baseline_of(results)
    winners: dict[str, list[float]] = {}
    chosen: dict[str, DeployedFile] = {}
    for drop in drops:
        best = best_within(files, baseline, drop)
        if best is not None:
            winners.setdefault(best.name, []).append(drop)
            chosen[best.name] = best
    lines = [
        f"{headline(chosen[name], baseline)} (the smallest file within {_drops(won)})."
        for name, won in winners.items()
    ]
    measured = [f for f in files if f.measured]
    if len(measured) > 1:
        best_names = pareto_best(_points(measured))
        best_labels = [f.label for f in measured if f.name in best_names]
        dominated = len(measured) - len(best_labels)
        lines.append(
            f"Pareto-best (no other file both smaller and more accurate): {', '.join(best_labels)}"
            + (f"; {dominated} dominated." if dominated else ".")
        )
    return lines


def _drops(drops: Sequence[float]) -> str:
    words = [f"{d:g}" for d in drops]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" and {words[-1]}"
    return f"{listed} point{'' if words == ['1'] else 's'}"


def _points(files: Iterable[DeployedFile]) -> dict[str, tuple[float, float]]:
    return {f.name: (float(f.zipped_bytes or 0), float(f.accuracy or 0.0)) for f in files if f.measured}


def headlines_text(results: RunResults) -> Text:
    lines = headlines(results)
    if not lines:
        return Text("No deployed file evaluated yet: the comparison fills in as files are.", style="dim")
    return Text("\n").join(Text(f"• {line}") for line in lines)


# --- renderables --------------------------------------------------------------------------------------

_COLUMNS = ("accuracy", "Δ pts", "raw KB", "zipped KB", "smaller", "sparsity", "unique/ch", "sparse KB")
SIZE_COLUMNS = ("accuracy", "Δ pts", "zipped KB", "smaller")
WEIGHT_COLUMNS = ("raw KB", "sparsity", "unique/ch", "sparse KB")


def deployed_table(results: RunResults, columns: Sequence[str] = _COLUMNS, *, title: str = "") -> Table:
    """A row for every .tflite file: the Pareto-best marked ●, the dominated ○ and dimmed."""
    files = deployed_files(results)
    baseline = baseline_of(results)
    best = pareto_best(_points(files))
    columns = [
        c
        for c in columns
        if (c != "smaller" or baseline.zipped_bytes is not None)
        and (c not in _measured_by_some or any(_measured_by_some[c](f) for f in files))
    ]
    table = Table(title=title or "Deployed files (.tflite)", title_justify="left", caption_justify="left")
    table.add_column("model", overflow="fold")
    for header in columns:
        table.add_column(header, justify="right", no_wrap=True)
    for file in files:
        cells = _cells(file, baseline)
        table.add_row(_model_cell(file, best), *[cells[c] for c in columns])
    if not files:
        table.add_row(Text("no .tflite file yet", style="dim"), *[MISSING] * len(columns))
    table.caption = _caption(baseline, columns)
    return table


def _model_cell(file: DeployedFile, best: set[str]) -> Text:
    if not file.measured:
        return Text(f"  {file.label}")
    if file.name in best:
        return Text.assemble((f"{BEST_MARK} ", BEST_STYLE), file.label)
    return Text(f"{DOMINATED_MARK} {file.label}", style=DOMINATED_STYLE)


def _kb(n_bytes: int | None) -> Text:
    return MISSING if n_bytes is None else Text(f"{n_bytes / 1000:.2f}")


def _cells(file: DeployedFile, baseline: Baseline) -> dict[str, Text]:
    points = baseline.points(file.accuracy) if file.accuracy is not None else None
    ratio = baseline.times_smaller(file.zipped_bytes) if file.zipped_bytes is not None else None
    larger = (
        file.sparse_encoded_bytes is not None
        and file.bytes is not None
        and file.sparse_encoded_bytes > file.bytes
    )
    return {
        "accuracy": MISSING if file.accuracy is None else Text(f"{file.accuracy:.4f}"),
        "Δ pts": _against_baseline(file, points, fmt_points),
        "raw KB": _kb(file.bytes),
        "zipped KB": _kb(file.zipped_bytes),
        "smaller": _against_baseline(file, ratio, fmt_times),
        "sparsity": MISSING if file.sparsity is None else Text(f"{file.sparsity:.1%}"),
        "unique/ch": MISSING if file.unique_values is None else Text(f"{file.unique_values:,}"),
        # Sparse encoding makes a file larger below ~70% zeros: said in the figure's colour, not hidden.
        "sparse KB": Text(_kb(file.sparse_encoded_bytes).plain, style="yellow" if larger else ""),
    }


def _against_baseline(file: DeployedFile, value: float | None, fmt: Callable[[float], str]) -> Text:
    if file.name == REFERENCE:
        return REFERENCE_CELL
    return MISSING if value is None else Text(fmt(value))


# Columns shown only when some file has the figure (results older than schema 2, no sparse encoding; no
# float file to be smaller than).
_measured_by_some: dict[str, Callable[[DeployedFile], bool]] = {
    "unique/ch": lambda f: f.unique_values is not None,
    "sparse KB": lambda f: f.sparse_encoded_bytes is not None,
}
_CAPTIONS = {
    "Δ pts": "Δ pts: accuracy against {baseline} ({accuracy}), in points",
    "smaller": "smaller: the float file's zipped size over this one's",
    "sparsity": "sparsity: zeros in its pruned kernels",
    "unique/ch": "unique/ch: most unique values in one output channel of any kernel (clusters kept)",
    "sparse KB": "sparse KB: raw size with TFLite's sparse encoding (yellow: larger than without)",
}


def _caption(baseline: Baseline, columns: Sequence[str]) -> str:
    accuracy = "not evaluated" if baseline.accuracy is None else f"{baseline.accuracy:.4f}"
    parts = [
        _CAPTIONS[c].format(accuracy=accuracy, baseline=baseline.accuracy_of)
        for c in columns
        if c in _CAPTIONS
    ]
    return f"{BEST_MARK} Pareto-best  {DOMINATED_MARK} dominated; " + "; ".join(parts) + "."


def deployed_comparison(results: RunResults) -> FitToWidth:
    """The table at whatever width it is drawn: whole, less decorated, then as two narrower tables (size and
    accuracy; what the weights keep) rather than cut a digit."""
    halves = Group(
        FitToWidth(
            *compact_variants(
                deployed_table(results, SIZE_COLUMNS, title="Deployed files: size and accuracy")
            )
        ),
        FitToWidth(
            *compact_variants(
                deployed_table(results, WEIGHT_COLUMNS, title="Deployed files: what the weights keep")
            )
        ),
    )
    return FitToWidth(*compact_variants(deployed_table(results)), halves)


def accuracy_size_chart(results: RunResults, height: int = 10) -> ScatterChart:
    """Accuracy against zipped size, a labelled mark per evaluated file: Pareto-best ●, dominated ○ (dim)."""
    files = deployed_files(results)
    measured = [f for f in files if f.measured]
    best = pareto_best(_points(measured))
    points = [
        Point(
            f.label,
            (f.zipped_bytes or 0) / 1000,
            f.accuracy or 0.0,
            BEST_MARK if f.name in best else DOMINATED_MARK,
            BEST_STYLE if f.name in best else DOMINATED_STYLE,
        )
        for f in measured
    ]
    pending = [f.label for f in files if not f.measured]
    notes = [Text(f"Not evaluated yet: {', '.join(pending)}.", style="dim")] if pending else []
    if not files:
        notes = [Text("No .tflite file yet: Convert makes them.", style="dim")]
    return ScatterChart(
        f"Accuracy vs size · {BEST_MARK} Pareto-best {DOMINATED_MARK} dominated",
        points,
        x_unit="KB",
        height=height,
        notes=notes,
    )


def deployed_renderables(results: RunResults, chart_height: int = 10) -> list[RenderableType]:
    """Headlines, chart, table: the comparison of every deployed file, as the app and `run` show it."""
    return [headlines_text(results), accuracy_size_chart(results, chart_height), deployed_comparison(results)]
