"""`e` in the app: a folder dialog, the report written by a thread worker, and a notice of where it went."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_engine import FakeEngine
from test_app import idle, log_text, make_app, wait_for
from textual.pilot import Pilot
from textual.widgets import Input
from textual.widgets._footer import FooterKey

from engine.results import RunResults
from pqat_tui.report.export import REPORT_FILES
from pqat_tui.screens.export_dialog import ExportScreen


def exported(folder: Path) -> bool:
    return all((folder / name).exists() for name in REPORT_FILES.values())


async def test_e_exports_the_run_into_the_folder_typed(tmp_path: Path) -> None:
    engine = FakeEngine()
    app = make_app(engine)
    folder = tmp_path / "shared" / "report"
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app))
        assert any(key.description == "Export" for key in app.query(FooterKey))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        field = app.screen.query_one(Input)
        assert field.value.startswith("reports/") and app.screen.focused is field
        field.value = str(folder)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Report written to" in log_text(app))
        assert not isinstance(app.screen, ExportScreen)
        assert exported(folder)
        assert "PQAT kept 50.0% sparsity, QAT kept 1.6%." in (folder / "report.md").read_text()
        assert RunResults.read_json(folder / "results.json") == app.results
        assert f"Report written to {folder}/" in log_text(app).replace("\n", "")


async def test_enter_exports_a_partial_run_into_the_default_folder() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("n")  # Data only
        await wait_for(pilot, lambda: not app.busy and "Data done" in log_text(app))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        folder = Path(app.screen.query_one(Input).value)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Report written to" in log_text(app))
        assert folder.parent == Path("reports") and exported(folder)
        assert f"Report written to {folder.resolve()}/" in log_text(app).replace("\n", "")
        md = (folder / "report.md").read_text()
        assert "Partial run: 1 of 8 stages done; not run: Baseline, Prune" in md


async def test_escape_closes_the_dialog_and_writes_nothing() -> None:
    app = make_app(FakeEngine())
    reports_before = set(Path("reports").glob("*"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ExportScreen))
        await pilot.pause(0.1)
        assert "Report" not in log_text(app)
        assert set(Path("reports").glob("*")) == reports_before


async def test_an_unwritable_folder_is_reported_and_the_app_stays_up(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    app = make_app(FakeEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        app.screen.query_one(Input).value = str(blocker / "report")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Report not written" in log_text(app))
        assert "cannot create report folder" in log_text(app)
        assert app.is_running and blocker.read_text() == ""


def test_export_dialog_snapshot(snap_compare, monkeypatch: pytest.MonkeyPatch) -> None:
    # A fixed default folder: the real one carries the current time.
    monkeypatch.setattr("pqat_tui.app.default_report_dir", lambda: Path("reports/2026-11-25T17-30-00Z"))
    app = make_app(FakeEngine())

    async def run_before(pilot: Pilot) -> None:
        await wait_for(pilot, idle(app))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        app.screen.query_one(Input).cursor_blink = False

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
