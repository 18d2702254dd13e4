"""How the app gets its engine: a factory it calls in a background thread, so the first paint never waits.

Tests pass a factory that returns a scripted fake; the real one imports TensorFlow (3–7 s) and opens the
run folder, where every finished stage is kept and from which an earlier run resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.config import PipelineConfig
from engine.protocol import PipelineEngine


@dataclass(frozen=True)
class LoadedEngine:
    engine: PipelineEngine
    versions: dict[str, str]  # library versions worth a log line, e.g. {"tensorflow": "2.21.0"}
    summary: str = ""  # what the engine wants said first, e.g. which stages a resumed run already holds


EngineFactory = Callable[[PipelineConfig], LoadedEngine]


def real_engine_factory(
    run_dir: Path | None = None, *, model: str | None = None, no_train: bool = False
) -> EngineFactory:
    """The TensorFlow engine over a run folder (a new one under runs/ when `run_dir` is None).

    `model` (`--model`), when given or when the resumed run had one, is loaded and checked against the data
    here; a model that does not fit is the engine's load error, shown by the app.
    """

    def load(config: PipelineConfig) -> LoadedEngine:
        # Blocking: the app calls this from a worker thread.
        from engine.run_store import DEFAULT_RUNS_ROOT, new_run_dir
        from engine.stored_session import open_run
        from engine.tf_runtime import load_tensorflow
        from engine.user_model import load_model_choice

        versions = load_tensorflow()
        folder = run_dir or new_run_dir(DEFAULT_RUNS_ROOT)
        user_model, train = load_model_choice(model, no_train, folder, config)
        session = open_run(config, folder, user_model=user_model, train_baseline=train)
        summary = session.summary()
        if user_model is not None:
            summary += f". Baseline: {user_model.path} ({'fine-tuned' if train else 'evaluated as it is'})"
            for stage, reason in user_model.unsupported.items():
                summary += f". {stage.title} cannot run: {reason}"
        return LoadedEngine(session, versions, summary)

    return load
