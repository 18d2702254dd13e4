"""`pqat-tui run --detach`: every stage in a background engine process; the command returns at once.

The engine process runs in a session of its own (no terminal can hang it up), writes everything to the run
folder, and exits when the last stage has run and no viewer is left.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.config import PipelineConfig
from engine.worker_link import WorkerOptions, WorkerStartError, spawn_worker

EXIT_OK = 0
EXIT_USAGE = 2


def run_detached(config: PipelineConfig, args: argparse.Namespace) -> int:
    given = [f"--{name}" for name in ("json", "report") if getattr(args, name, None)]
    if given:
        print(
            f"pqat-tui: error: --detach with {' and '.join(given)}: a detached run writes its run folder "
            "only; render it once done with `pqat-tui report RUN_FOLDER`",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from engine.run_store import DEFAULT_RUNS_ROOT, new_run_dir
    from engine.writes import WriteError

    try:
        run_dir = Path(args.run_dir) if args.run_dir else new_run_dir(DEFAULT_RUNS_ROOT)
    except WriteError as error:
        print(f"pqat-tui: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    options = WorkerOptions(
        config=config,
        model=getattr(args, "model", None),
        no_train=getattr(args, "no_train", False),
        detached=True,
        run_all=True,
    )
    try:
        process = spawn_worker(run_dir, options)
    except WorkerStartError as error:
        print(f"pqat-tui: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"Running in the background (engine process {process.pid}): {run_dir}")
    print(f"  pqat-tui attach {run_dir}   watch and drive it")
    print("  pqat-tui ps                 list runs and their progress")
    print(f"  pqat-tui report {run_dir}   its results, once it is done")
    return EXIT_OK
