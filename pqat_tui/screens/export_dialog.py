"""The `e` dialog: which folder to export the current run's report into (Enter exports, Escape cancels)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from pqat_tui.report.export import REPORT_FILES


class ExportScreen(ModalScreen["Path | None"]):
    """Asks for a folder, prefilled with the default; dismisses with the folder, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="export_cancel", key_display="esc")]

    def __init__(self, default_folder: Path) -> None:
        super().__init__()
        self.default_folder = default_folder

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog"):
            yield Static("Export the report into this folder:", id="export-title")
            yield Input(value=str(self.default_folder), id="export-folder")
            yield Static(f"{', '.join(REPORT_FILES.values())}\nEnter exports · esc cancels", id="export-help")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        folder = event.value.strip()
        if not folder:
            self.notify("Type a folder to export into.", severity="warning")
            return
        self.dismiss(Path(folder).expanduser())

    def action_cancel(self) -> None:
        self.dismiss(None)
