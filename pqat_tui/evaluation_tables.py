"""What the deployed files really do: latency, accuracy per class, confusion, and the images they changed.

Pure functions of RunResults returning rich renderables (like pqat_tui.tables, which uses a few of them),
shared by the Evaluate panel, `run`'s summary and the reports. Speed is always stated against the float
reference, a slow-down as plainly as a speed-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.table import Table
from rich.text import Text

from engine.evaluation_results import ChangedImage, ChangedPredictions, ClassAccuracy, Latency
from engine.latency import SAME_SPEED, format_ms, speed_versus
from engine.results import RunResults
from pqat_tui.deployed import deployed_label
from pqat_tui.digits import SIDE, digit_lines

# The .tflite files of a run, the float reference first.
DEPLOYED = ("float", "qat", "pqat", "ptq")
DEPLOYED_LABELS = {"float": "Float", "qat": "QAT", "pqat": "PQAT", "ptq": "PTQ"}
# What the files hold: the reference is converted without optimization, the others are int8.
DEPLOYED_TYPES = {"float": "float32", "qat": "int8", "pqat": "int8", "ptq": "int8"}
KERAS_LABELS = {"baseline": "Baseline", "pruned": "Pruned", "qat": "QAT", "pqat": "PQAT"}
MISSING = Text("—", style="dim")


@dataclass(frozen=True)
class ModelColumn:
    """One model in a per-class comparison: a Keras model or a .tflite file."""

    name: str
    tflite: bool

    @property
    def label(self) -> str:
        if self.tflite:
            return f"{DEPLOYED_LABELS.get(self.name, self.name)} .tflite"
        return f"{KERAS_LABELS.get(self.name, self.name)} Keras"

    def classes(self, results: RunResults) -> ClassAccuracy | None:
        model = results.models.get(self.name)
        if model is None:
            return None
        if self.tflite:
            return model.tflite.classes if model.tflite else None
        return model.classes


ALL_COLUMNS = (
    *(ModelColumn(name, False) for name in KERAS_LABELS),
    *(ModelColumn(name, True) for name in DEPLOYED),
)
# Narrower choices for a narrow panel: the baseline and the deployed files, then the int8 ones only.
DEPLOYED_COLUMNS = (ModelColumn("baseline", False), *(ModelColumn(name, True) for name in DEPLOYED))
INT8_COLUMNS = (ModelColumn("baseline", False), *(ModelColumn(name, True) for name in ("qat", "pqat", "ptq")))


class FirstThatFits:
    """The first of several renderables (widest first) whose natural width fits the space it is given."""

    def __init__(self, *candidates: RenderableType) -> None:
        self.candidates = candidates

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        unbounded = options.update_width(10_000)
        for candidate in self.candidates[:-1]:
            if Measurement.get(console, unbounded, candidate).maximum <= options.max_width:
                yield candidate
                return
        yield self.candidates[-1]

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.candidates[-1])


def _table(title: str, caption: str | None = None) -> Table:
    """The compact style of these tables: a rule under the header, one space between columns."""
    return Table(
        title=title,
        caption=caption,
        title_justify="left",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        show_edge=False,
    )


def class_names(results: RunResults, count: int) -> list[str]:
    """The dataset's class names where it has them (`dataset.classes`), else the class indices."""
    names = list(getattr(results.dataset, "classes", ()) or ())
    return [names[i] if i < len(names) else str(i) for i in range(count)]


# --- latency -----------------------------------------------------------------------------------------


def latency_of(results: RunResults, name: str) -> Latency | None:
    model = results.models.get(name)
    return model.tflite.latency if model and model.tflite else None


def speed_note(results: RunResults, name: str) -> str:
    """At 1 thread: `1.4x faster than float`, `2.1x slower than float`, `no faster than float (0.97x)`."""
    latency, reference = latency_of(results, name), latency_of(results, "float")
    if name == "float" or latency is None or reference is None:
        return ""
    return speed_versus(latency.threads_1.p50_ms, reference.threads_1.p50_ms)


def latency_line(results: RunResults, name: str) -> str | None:
    """`PQAT int8: 0.21 ms, 1.4x faster than float` (per image, 1 thread), or None before Evaluate."""
    latency = latency_of(results, name)
    if latency is None:
        return None
    line = (
        f"{deployed_label(name)} {DEPLOYED_TYPES.get(name, '.tflite')}: {format_ms(latency.threads_1.p50_ms)}"
    )
    note = speed_note(results, name)
    return f"{line}, {note}" if note else line


def latency_cell(results: RunResults, name: str, *, with_note: bool = True) -> Text:
    """A model's 1-thread median latency for the comparison table, with how it compares with float."""
    latency = latency_of(results, name)
    if latency is None:
        return MISSING
    cell = Text(format_ms(latency.threads_1.p50_ms))
    note = speed_note(results, name) if with_note else ""
    if note:
        cell.append(f" ({note.replace(' than float', '')})", style=_speed_style(note))
    return cell


def latency_caption(results: RunResults) -> str | None:
    """Under a table with a latency column: what the figure is."""
    if not any(latency_of(results, name) for name in DEPLOYED):
        return None
    float_latency = latency_of(results, "float")
    reference = f"; float .tflite {format_ms(float_latency.threads_1.p50_ms)}" if float_latency else ""
    return f"latency: median per image, 1 thread{reference}"


def _speed_style(note: str) -> str:
    if "slower" in note:
        return "yellow"
    return "green" if "faster" in note else "dim"


def latency_table(
    results: RunResults, models: Sequence[str] = (), *, compact: bool = False, narrow: bool = False
) -> Table:
    """Per-image latency (median, 95th percentile) at 1 thread and at every core, and batched throughput:
    of the float file and `models` (default: the pqat recipe's QAT, PQAT and PTQ files). `compact`: the
    medians and the verdict only; `narrow` (compact too): no file types, and verdicts cut to their figure."""
    compact = compact or narrow
    names = ("float", *(name for name in models if name != "float")) if models else DEPLOYED
    latencies = {name: latency_of(results, name) for name in names}
    threads = max((lat.threads_all.threads for lat in latencies.values() if lat), default=0)
    cores = f"{threads} threads" if threads > 1 else "all cores"
    runs = max((lat.threads_1.runs for lat in latencies.values() if lat), default=0)
    batch = max((lat.batch for lat in latencies.values() if lat), default=0)
    caption = None
    if runs:
        caption = "median of ≥200 invokes, fresh process"
        if not compact:
            caption = (
                f"median of ≥200 invokes (up to {runs:,}), fresh process; img/s: {batch} images an invoke"
            )
    table = _table("Latency per image (LiteRT, XNNPack)", caption)
    table.add_column("model", no_wrap=True)
    if compact:
        headers = ["1 thread", cores, "vs float"]
    else:
        headers = ["1 thread\np50", "\np95", f"{cores}\np50", "\np95", "img/s\n1 thread", f"img/s\n{cores}"]
        headers.append("vs float\n(1 thread)")
    for header in headers:
        table.add_column(header, justify="left" if "vs float" in header else "right", no_wrap=True)
    for name, latency in latencies.items():
        label = deployed_label(name)
        if name in DEPLOYED_TYPES and not narrow:
            label += f" {DEPLOYED_TYPES[name]}"
        if latency is None:
            table.add_row(label, *[MISSING] * len(headers))
            continue
        note = speed_note(results, name) or ("reference" if name == "float" else "")
        shown = _short_verdict(note) if narrow else note.replace(" than float", "") if compact else note
        verdict = Text(shown, style=_speed_style(note))
        if compact:
            cells = [format_ms(latency.threads_1.p50_ms), format_ms(latency.threads_all.p50_ms)]
        else:
            cells = [
                format_ms(latency.threads_1.p50_ms),
                format_ms(latency.threads_1.p95_ms),
                format_ms(latency.threads_all.p50_ms),
                format_ms(latency.threads_all.p95_ms),
                _rate(latency.throughput_1),
                _rate(latency.throughput_all),
            ]
        table.add_row(label, *cells, verdict)
    return table


def _short_verdict(note: str) -> str:
    """`1.4x faster`, `2.1x slower`, `≈1.05x`: a speed note without "than float", and "no faster" as its
    figure alone, so that a narrow panel never cuts the figure."""
    note = note.replace(" than float", "")
    if note.startswith("no faster ("):
        return "≈" + note.removeprefix("no faster (").removesuffix(")")
    return note


def _rate(images_per_second: float | None) -> Text:
    if images_per_second is None:
        return MISSING
    if images_per_second >= 10_000:
        return Text(f"{images_per_second / 1000:,.0f}k")
    return Text(f"{images_per_second:,.0f}")


def latency_conclusions(results: RunResults) -> list[str]:
    """What the timings say, plainly: each int8 file against float, and whether PQAT's zeros sped it up."""
    lines: list[str] = []
    reference = latency_of(results, "float")
    for name in ("qat", "pqat", "ptq"):
        latency = latency_of(results, name)
        if latency is None or reference is None:
            continue
        lines.append(
            f"{DEPLOYED_LABELS[name]} int8: {format_ms(latency.threads_1.p50_ms)} an image at 1 thread, "
            f"{speed_note(results, name)} ({format_ms(reference.threads_1.p50_ms)})."
        )
    qat, pqat = latency_of(results, "qat"), latency_of(results, "pqat")
    if qat is not None and pqat is not None:
        ratio = qat.threads_1.p50_ms / pqat.threads_1.p50_ms
        figures = f"{format_ms(pqat.threads_1.p50_ms)} vs {format_ms(qat.threads_1.p50_ms)}"
        if 1 / SAME_SPEED < ratio < SAME_SPEED:
            lines.append(
                f"PQAT's zeros bring no speed-up over QAT ({figures}): XNNPack's kernels are dense, so "
                "sparsity shrinks the zipped file, not the time."
            )
        else:
            lines.append(
                f"PQAT is {speed_versus(pqat.threads_1.p50_ms, qat.threads_1.p50_ms, 'QAT')} ({figures})."
            )
    return lines


# --- accuracy per class ------------------------------------------------------------------------------


def _reference(results: RunResults) -> ModelColumn | None:
    """What a class's loss is measured against: the Keras baseline, else the float .tflite."""
    for column in (ModelColumn("baseline", False), ModelColumn("float", True)):
        if column.classes(results) is not None:
            return column
    return None


@dataclass(frozen=True)
class ClassLoss:
    column: ModelColumn
    label: int
    points: float  # accuracy points lost against the reference (positive: worse)


def lost_most(results: RunResults, columns: Sequence[ModelColumn] = ALL_COLUMNS) -> list[ClassLoss]:
    """For each model, the class that lost most accuracy against the baseline (only where one lost)."""
    reference = _reference(results)
    base = reference.classes(results) if reference else None
    if base is None:
        return []
    found = []
    for column in columns:
        classes = column.classes(results)
        if classes is None or column == reference:
            continue
        drops = [
            (b - c) * 100 if b is not None and c is not None else float("-inf")
            for b, c in zip(base.per_class, classes.per_class, strict=False)
        ]
        worst = max(range(len(drops)), key=drops.__getitem__, default=None)
        if worst is not None and drops[worst] > 0:
            found.append(ClassLoss(column, worst, drops[worst]))
    return found


def per_class_table(results: RunResults, columns: Sequence[ModelColumn] = ALL_COLUMNS) -> Table:
    """Accuracy of each class (%) for each model; in red, the class each model lost most on."""
    shown = [c for c in columns if c.classes(results) is not None]
    reference = _reference(results)
    table = _table("Accuracy per class (%)")
    table.add_column("class", no_wrap=True)
    for column in shown:
        label = DEPLOYED_LABELS[column.name] if column.tflite else KERAS_LABELS.get(column.name, column.name)
        table.add_column(f"{label}\n{'.tflite' if column.tflite else 'Keras'}", justify="right", no_wrap=True)
    if not shown:
        table.add_row(Text("no per-class figures yet: run Evaluate", style="dim"))
        return table
    worst = {loss.column: loss.label for loss in lost_most(results, shown)}
    count = max(len(c.classes(results).per_class) for c in shown)  # type: ignore[union-attr]
    names = class_names(results, count)
    for label in range(count):
        cells = []
        for column in shown:
            per_class = column.classes(results).per_class  # type: ignore[union-attr]
            value = per_class[label] if label < len(per_class) else None
            cell = MISSING if value is None else Text(f"{value * 100:.1f}")
            if worst.get(column) == label:
                cell = Text(cell.plain + "▼", style="bold red")
            cells.append(cell)
        table.add_row(Text(names[label]), *cells)
    table.add_section()
    table.add_row(Text("all", style="bold"), *[_overall(c.classes(results)) for c in shown])  # type: ignore[arg-type]
    if reference is not None and worst:
        table.caption = f"▼ each model's worst class against {reference.label}"
    return table


def per_class_view(results: RunResults) -> FirstThatFits:
    """The per-class table with every model where it fits, fewer models where it does not."""
    return FirstThatFits(
        *(per_class_table(results, c) for c in (ALL_COLUMNS, DEPLOYED_COLUMNS, INT8_COLUMNS))
    )


def latency_view(results: RunResults, models: Sequence[str] = ()) -> FirstThatFits:
    return FirstThatFits(
        latency_table(results, models),
        latency_table(results, models, compact=True),
        latency_table(results, models, narrow=True),
    )


def _overall(classes: ClassAccuracy) -> Text:
    total = sum(classes.images)
    right = sum(row[i] for i, row in enumerate(classes.confusion) if i < len(row))
    return Text(f"{right / total * 100:.1f}" if total else "—", style="bold")


def lost_most_lines(results: RunResults) -> list[str]:
    """For each deployed int8 file, the class it lost most on (the conclusions' lines)."""
    reference = _reference(results)
    if reference is None:
        return []
    lines = []
    for loss in lost_most(results, INT8_COLUMNS):
        name = class_names(results, loss.label + 1)[loss.label]
        lines.append(
            f"{loss.column.label} lost most on class {name}: "
            f"{loss.points:.1f} points below {reference.label}."
        )
    return lines


# --- confusion ---------------------------------------------------------------------------------------

_DIAGONAL = Color.from_rgb(40, 120, 60)
_OFF_DIAGONAL = Color.from_rgb(170, 40, 40)


def _heat(color: Color, share: float) -> Style:
    """A background from the terminal's black to `color` as `share` goes from 0 to 1."""
    red, green, blue = color.triplet or (0, 0, 0)  # type: ignore[misc]
    level = max(0.0, min(1.0, share))
    return Style(
        bgcolor=Color.from_rgb(red * level, green * level, blue * level),
        color="white" if level > 0.2 else None,
    )


def confusion_table(results: RunResults, column: ModelColumn) -> Table:
    """Rows the true class, columns the predicted one; each cell shaded by its share of the row (off the
    diagonal, a fifth of the row is full red)."""
    classes = column.classes(results)
    table = _table(f"Confusion: {column.label}", "rows: true class, columns: predicted")
    if classes is None:
        table.add_column("")
        table.add_row(Text(f"no confusion matrix for {column.label} yet", style="dim"))
        return table
    names = class_names(results, len(classes.confusion))
    table.add_column("", no_wrap=True, style="bold")
    for name in names:
        table.add_column(Text(name[:4]), justify="right", no_wrap=True)
    for true, row in enumerate(classes.confusion):
        total = sum(row) or 1
        cells = []
        for predicted, count in enumerate(row):
            if count == 0:
                cells.append(Text("·", style="dim"))
            elif predicted == true:
                cells.append(Text(str(count), style=_heat(_DIAGONAL, count / total)))
            else:
                cells.append(Text(str(count), style=_heat(_OFF_DIAGONAL, count / total * 5)))
        table.add_row(Text(names[true][:8]), *cells)
    return table


# --- what quantization changed -----------------------------------------------------------------------


def changed_of(results: RunResults, name: str) -> ChangedPredictions | None:
    model = results.models.get(name)
    return model.tflite.changed if model and model.tflite else None


def changed_table(results: RunResults) -> Table:
    """How many test predictions each deployed file changed against the float baseline, and which way."""
    table = _table("Predictions changed vs the float baseline", "fixed: float ✗ int8 ✓; broken: the reverse")
    table.add_column("model", no_wrap=True)
    for header in ("changed", "fixed", "broken", "both wrong"):
        table.add_column(header, justify="right", no_wrap=True)
    for name in ("qat", "pqat", "ptq"):
        changed = changed_of(results, name)
        label = f"{DEPLOYED_LABELS[name]} int8"
        if changed is None:
            table.add_row(label, MISSING, MISSING, MISSING, MISSING)
            continue
        table.add_row(
            label,
            str(changed.changed),
            Text(str(changed.fixed), style="green" if changed.fixed else ""),
            Text(str(changed.broken), style="red" if changed.broken else ""),
            str(changed.other),
        )
    return table


class ChangedImagesView:
    """The changed test images of one model as pictures, from `start`, as many as the width holds.

    Each picture is captioned with its test index, true label, and both predictions (✓ right, ✗ wrong).
    """

    GAP = 2

    def __init__(
        self, results: RunResults, name: str, start: int = 0, rows: int = 1, *, keys: bool = True
    ) -> None:
        self.results = results
        self.name = name
        self.start = start
        self.rows = rows
        self.keys = keys  # say which keys step through them (not in a report)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        changed = changed_of(self.results, self.name)
        label = DEPLOYED_LABELS.get(self.name, self.name)
        if changed is None:
            yield Text(f"{label}: no comparison with the float baseline yet (run Evaluate).", style="dim")
            return
        pictured = [image for image in changed.images if len(image.pixels) == SIDE * SIDE]
        yield Text.assemble(
            (f"{label} vs float: ", "bold"),
            f"{changed.changed} changed — ",
            (f"{changed.fixed} fixed", "green"),
            ", ",
            (f"{changed.broken} broken", "red"),
            f", {changed.other} both wrong",
        )
        if not pictured:
            yield Text("no changed images" if not changed.changed else "no pictures kept", style="dim")
            return
        width = SIDE // 2
        per_row = max(1, (options.max_width + self.GAP) // (width + self.GAP))
        start = min(self.start, len(pictured) - 1)
        shown = pictured[start : start + per_row * self.rows]
        names = class_names(self.results, 1 + max(max(i.label, i.baseline, i.prediction) for i in shown))
        yield Text(
            f"pictures {start + 1}–{start + len(shown)} of {len(pictured)}"
            + (f" (of {changed.changed} changed)" if changed.changed > len(pictured) else "")
            + (" · ] next, [ back" if self.keys else ""),
            style="dim",
        )
        for offset in range(0, len(shown), per_row):
            chunk = shown[offset : offset + per_row]
            drawn = [digit_lines(image.pixels) for image in chunk]
            for line in range(len(drawn[0])):
                yield Text((" " * self.GAP).join(d[line] for d in drawn))
            for caption in range(3):
                line = Text()
                for position, image in enumerate(chunk):
                    if position:
                        line.append(" " * self.GAP)
                    line.append_text(self._caption(image, caption, names, label))
                yield line

    @staticmethod
    def _caption(image: ChangedImage, line: int, names: list[str], label: str) -> Text:
        width = SIDE // 2
        if line == 0:
            return Text(f"#{image.index} is {names[image.label]}"[:width].ljust(width), style="dim")
        if line == 1:
            right = image.baseline == image.label
            text = f"float {names[image.baseline]} {'✓' if right else '✗'}"
            return Text(text[:width].ljust(width), style="green" if right else "red")
        right = image.prediction == image.label
        text = f"{label} {names[image.prediction]} {'✓' if right else '✗'}"
        return Text(text[:width].ljust(width), style="green" if right else "red")


def deployed_with_changes(results: RunResults) -> list[str]:
    """The deployed files the Evaluate panel can step through (those compared with float)."""
    return [name for name in ("qat", "pqat", "ptq") if changed_of(results, name) is not None]
