"""The line above everything: which data, which model and which run folder this screen shows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from engine.results import RunResults
from pqat_tui.tables import data_source_label

EXAMPLE_MODEL = "example CNN"


@dataclass(frozen=True)
class Session:
    """What the app was started on: the data source, the user's model (None: the example's) and the run."""

    data: str
    model: str | None = None
    run_dir: Path | None = None


def header_text(session: Session, results: RunResults) -> Text:
    # Once the data is loaded its own record says what was read (e.g. the sample standing in for MNIST).
    data = data_source_label(results.dataset) if results.dataset is not None else session.data
    run = f"{session.run_dir}/" if session.run_dir is not None else "not saved"
    text = Text(no_wrap=True, overflow="ellipsis")
    for label, value in (("data", data), ("model", session.model or EXAMPLE_MODEL), ("run", run)):
        if text:
            text.append(" · ", style="dim")
        text.append(f"{label} ", style="dim")
        text.append(value, style="bold")
    return text


class HeaderLine(Static):
    def show(self, session: Session, results: RunResults) -> None:
        self.update(header_text(session, results))
