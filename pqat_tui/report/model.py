"""What a report says: the run's tables, grouped into sections, with the run's status stated up front.

A report never hides a gap: stages that did not run or failed are listed as such, and each section says
when it has nothing to show instead of disappearing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone

from rich.console import Group, RenderableType
from rich.table import Table

from engine.results import RunResults
from engine.stages import Stage
from pqat_tui import deployed, layer_tables, tables
from pqat_tui import evaluation_tables as evaluation
from pqat_tui.tables import StageStatus


@dataclass(frozen=True)
class Paragraph:
    text: str
    style: str = ""


@dataclass(frozen=True)
class Bullets:
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Figure:
    """A drawing (e.g. test images in half-block characters): as it is in HTML, SVG and text, a code block
    in Markdown."""

    renderable: RenderableType


Block = Table | Paragraph | Bullets | Figure


@dataclass(frozen=True)
class ReportSection:
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Report:
    title: str
    generated_at: datetime
    results: RunResults
    stages: tuple[StageStatus, ...]
    sections: tuple[ReportSection, ...]

    @property
    def complete(self) -> bool:
        return all(s.state == "done" for s in self.stages)

    @property
    def subtitle(self) -> str:
        return f"Generated {self.generated_at:%Y-%m-%d %H:%M} UTC by pqat-tui"


def run_status(stages: tuple[StageStatus, ...]) -> Paragraph:
    """One sentence on how far the run got, naming every stage that failed or did not run."""
    done = [s for s in stages if s.state == "done"]
    failed = [s.stage.title for s in stages if s.state == "failed"]
    missing = [s.stage.title for s in stages if s.state == "not run"]
    total = sum(s.seconds or 0.0 for s in stages)
    if not failed and not missing:
        return Paragraph(f"Complete run: all {len(stages)} stages done in {total:.1f} s.", "green")
    text = f"Partial run: {len(done)} of {len(stages)} stages done"
    if failed:
        text += f"; failed: {', '.join(failed)}"
    if missing:
        text += f"; not run: {', '.join(missing)}"
    return Paragraph(text + ".", "bold red" if failed else "yellow")


def build_report(results: RunResults, generated_at: datetime | None = None) -> Report:
    stages = tuple(tables.stage_statuses(results))
    source = results.dataset.source if results.dataset else results.config.get("data")
    title = "pqat-tui report" + (f" — {source}" if source else "")
    return Report(
        title=title,
        generated_at=generated_at or datetime.now(timezone.utc),
        results=results,
        stages=stages,
        sections=(
            _summary(results, stages),
            _deployed(results),
            _stages(results),
            ReportSection(
                "Results",
                (
                    tables.comparison_table(results),
                    tables.accuracy_table(results),
                    tables.tflite_table(results),
                ),
            ),
            _model(results),
            _deployment(results),
            _sparsity(results),
            _history(results),
            _setup(results),
        ),
    )


def _summary(results: RunResults, stages: tuple[StageStatus, ...]) -> ReportSection:
    findings = tables.conclusions(results)
    conclusions: Block = (
        Bullets(tuple(findings))
        if findings
        else Paragraph("No conclusions: the stages they compare have not run.", "dim")
    )
    return ReportSection("Summary", (run_status(stages), conclusions))


# Taller than the app's: a report has the room, and close files get rows of their own.
REPORT_CHART_HEIGHT = 14


def _deployed(results: RunResults) -> ReportSection:
    """Every .tflite file: which is smallest at what accuracy (headlines, the chart, then the table)."""
    lines = deployed.headlines(results)
    said: Block = Bullets(tuple(lines)) if lines else Paragraph("No deployed file evaluated yet.", "dim")
    return ReportSection(
        "Deployed files",
        (
            said,
            Figure(deployed.accuracy_size_chart(results, REPORT_CHART_HEIGHT)),
            deployed.deployed_table(results),
        ),
    )


def _stages(results: RunResults) -> ReportSection:
    blocks: list[Block] = [tables.stage_table(results)]
    # The stage table already shows each stage's error; a failure filed under another name would be lost.
    known = {s.value for s in Stage}
    other = {k: v for k, v in results.failures.items() if k not in known}
    if other:
        blocks.append(tables.failures_table(replace(results, failures=other)))
    return ReportSection("Run", tuple(blocks))


def _results(results: RunResults) -> ReportSection:
    return ReportSection(
        "Results",
        (tables.comparison_table(results), tables.accuracy_table(results), tables.tflite_table(results)),
    )


def _model(results: RunResults) -> ReportSection:
    """The support table: what tfmot could do with each layer (by type first, for a large model)."""
    support = results.layer_support
    if not support:
        return ReportSection("Model", (Paragraph("No support table: the Data stage has not run.", "dim"),))
    blocks: list[Block] = [Paragraph(layer_tables.support_summary(support).plain)]
    if len(support) > layer_tables.COMPACT_ROWS:
        blocks.append(layer_tables.support_types_table(support))
    blocks.append(layer_tables.support_table(support))
    return ReportSection("Model", tuple(blocks))


def _deployment(results: RunResults) -> ReportSection:
    """What the deployed files do: latency, accuracy per class, confusion, and the images they changed."""
    blocks: list[Block] = [evaluation.latency_table(results)]
    speed = evaluation.latency_conclusions(results)
    if speed:
        blocks.append(Bullets(tuple(speed)))
    blocks += [evaluation.per_class_table(results), evaluation.changed_table(results)]
    for column in evaluation.ALL_COLUMNS:
        if column.classes(results) is not None:
            blocks.append(evaluation.confusion_table(results, column))
    for name in evaluation.deployed_with_changes(results):
        blocks.append(Figure(evaluation.ChangedImagesView(results, name, rows=2, keys=False)))
    return ReportSection("Deployment: latency, classes, changed predictions", tuple(blocks))


def _sparsity(results: RunResults) -> ReportSection:
    blocks: list[Block] = []
    sparsity = tables.sparsity_panel(results, layer_tables.FULL)
    blocks += list(sparsity.renderables) if isinstance(sparsity, Group) else [sparsity]
    for name in tables.TFLITE_MODELS:
        model = results.models.get(name)
        if model is not None and model.tflite is not None and model.tflite.weight_sparsity:
            blocks.append(tables.tflite_weights_table(results, name))
    return ReportSection("Sparsity", tuple(blocks))


def _history(results: RunResults) -> ReportSection:
    trained = [name for name, model in results.models.items() if model.history]
    if not trained:
        return ReportSection("Training history", (Paragraph("No training recorded.", "dim"),))
    return ReportSection("Training history", tuple(tables.history_table(results, n) for n in trained))


def _setup(results: RunResults) -> ReportSection:
    dataset: Block = (
        tables.dataset_table(results.dataset)
        if results.dataset is not None
        else Paragraph("Dataset: not loaded (the Data stage did not run).", "yellow")
    )
    return ReportSection("Setup", (tables.config_table(results), dataset, tables.versions_table(results)))
