"""How the app gets its engine: a factory it calls in a background thread, so the first paint never waits.

The real factory starts (or, for a run being attached to, finds) the run folder's engine process and
connects to it: TensorFlow loads in that process, never in the app's. Tests pass a factory that returns a
scripted fake engine, which the app then runs in a thread (engine.host.LocalLink).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from engine.config import PipelineConfig
from engine.protocol import EngineLink, PipelineEngine
from engine.worker_link import WorkerLink, WorkerOptions


@dataclass(frozen=True)
class LoadedEngine:
    engine: PipelineEngine | EngineLink
    versions: dict[str, str]  # library versions worth a log line, e.g. {"tensorflow": "2.21.0"}
    summary: str = ""  # what the engine wants said first, e.g. which stages a resumed run already holds


EngineFactory = Callable[[PipelineConfig], LoadedEngine]


def real_engine_factory(
    run_dir: Path | None = None, *, model: str | None = None, no_train: bool = False
) -> EngineFactory:
    """The TensorFlow engine, in a process of its own, over a run folder (a new one under runs/ when
    `run_dir` is None); a live engine process already serving the folder is attached to instead.

    `model` (`--model`), when given or when the resumed run had one, is loaded and checked against the data
    by the engine process; a model that does not fit is the engine's load error, shown by the app.
    """
    return worker_engine_factory(run_dir, WorkerOptions(model=model, no_train=no_train))


def worker_engine_factory(run_dir: Path | None, options: WorkerOptions) -> EngineFactory:
    """An engine process started with `options` (the tests give a scripted worker's command) and the
    app's config."""

    def load(config: PipelineConfig) -> LoadedEngine:
        # Blocking (starting a process, with --model loading TensorFlow in it): called from a thread.
        from engine.run_store import DEFAULT_RUNS_ROOT, new_run_dir

        folder = run_dir or new_run_dir(DEFAULT_RUNS_ROOT)
        link = WorkerLink.open(folder, replace(options, config=config))
        return LoadedEngine(link, dict(link.state.versions), link.state.summary)

    return load
