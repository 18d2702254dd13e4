"""The engine is UI-free, and importing the app's package is cheap."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def _top_level(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_engine_imports_no_ui() -> None:
    loaded = _top_level(_modules_after("import engine, engine.config, engine.events, engine.results"))
    assert "engine" in loaded
    assert not {"textual", "rich", "pqat_tui"} & loaded


def test_engine_package_import_does_not_load_tensorflow() -> None:
    loaded = _top_level(_modules_after("import engine"))
    assert "tensorflow" not in loaded


def test_app_package_import_does_not_load_tensorflow() -> None:
    loaded = _top_level(_modules_after("import pqat_tui, pqat_tui.cli, pqat_tui.tables"))
    assert "pqat_tui" in loaded
    assert "tensorflow" not in loaded


def test_engine_session_module_is_cheap_to_import() -> None:
    """The app imports the session class at start-up; TensorFlow waits for the first stage."""
    loaded = _top_level(_modules_after("import engine.pipeline, engine.data, engine.tf_runtime"))
    assert not {"tensorflow", "tf_keras", "textual", "rich", "pqat_tui"} & loaded
