"""Save an SVG screenshot of every panel of the app over the real engine on the bundled sample.

    python assets/screenshots/take_screenshots.py [--out assets/screenshots] [--size 120x40]

Drives the app with Pilot as a person would (`a`, then each stage selected in turn); one extra screenshot
is taken while the baseline trains, one of the help screen.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from engine.config import PipelineConfig
from engine.run_store import new_run_dir
from pqat_tui.app import PqatApp
from pqat_tui.engine_loader import real_engine_factory
from pqat_tui.steps import Step
from pqat_tui.widgets.training_panel import TrainingPanel

REPO = Path(__file__).resolve().parents[2]


async def take(out: Path, size: tuple[int, int]) -> None:
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    # The engine process may still be writing its last file into the run as the script ends.
    with tempfile.TemporaryDirectory(prefix="pqat-screens-", ignore_cleanup_errors=True) as scratch:
        os.chdir(scratch)  # the header shows the run folder as a person sees it: runs/<UTC time>/
        run_dir = new_run_dir(Path("runs"))
        app = PqatApp(PipelineConfig(data="sample"), real_engine_factory(run_dir), run_dir=run_dir)
        async with app.run_test(size=size) as pilot:

            async def until(condition, timeout: float = 400) -> None:  # noqa: ANN001
                for _ in range(int(timeout / 0.1)):
                    if condition():
                        return
                    await pilot.pause(0.1)
                raise TimeoutError("the app did not get there")

            await until(lambda: app.engine is not None)
            await pilot.press("a")
            # Live: the baseline halfway through its epochs.
            baseline = app.query_one("#panel-baseline", TrainingPanel)
            await until(lambda: baseline.progress.current_epoch >= 5)
            app.save_screenshot(str(out / "training-live.svg"))
            await until(lambda: app.board.all_done() and not app.busy)
            app.clear_notifications()
            for step in Step:
                app.selected = step
                await pilot.pause(0.3)
                app.save_screenshot(str(out / f"{step.value}.svg"))
            await pilot.press("question_mark")
            await pilot.pause(0.3)
            app.save_screenshot(str(out / "help.svg"))
        close = getattr(app.engine, "close", None)
        if close is not None:
            close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "assets" / "screenshots")
    parser.add_argument("--size", default="120x40")
    args = parser.parse_args()
    columns, rows = (int(n) for n in args.size.split("x"))
    asyncio.run(take(args.out, (columns, rows)))
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
