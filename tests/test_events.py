from __future__ import annotations

from engine.events import one_line_error


def test_one_line_error_folds_lines_and_names_the_type() -> None:
    error = ValueError("shape mismatch:\n  expected (28, 28)\n  got (32, 32)")
    assert one_line_error(error) == "ValueError: shape mismatch: expected (28, 28) got (32, 32)"
    assert one_line_error(KeyError()) == "KeyError"


def test_one_line_error_is_cut_at_the_limit() -> None:
    line = one_line_error(RuntimeError("x" * 500))
    assert len(line) == 200
    assert line.startswith("RuntimeError: xxx") and line.endswith("…")
