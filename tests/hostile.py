"""For the hostile-input and fault tests: the one-line-error check, simulated disk faults, a real tmpfs."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine import writes


def assert_one_line_error(err: str, *names: str) -> None:
    """What every refusal prints: exactly one line on stderr, `pqat-tui: error: ...`, naming `names`."""
    assert "Traceback" not in err, err
    assert err.startswith("pqat-tui: error: "), err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    for name in names:
        assert str(name) in err, (name, err)


@dataclass
class DiskFault:
    """Writes refused by fail_writes: `refused` lists them; set `active` false to let writes through again."""

    refused: list[Path] = field(default_factory=list)
    active: bool = True


def fail_writes(monkeypatch: pytest.MonkeyPatch, code: int, where: Callable[[Path], bool]) -> DiskFault:
    """Make the one place the engine opens files for writing (engine.writes.open_for_write) refuse the
    files `where` picks with errno `code`, as a full, read-only or failing disk would."""
    fault = DiskFault()
    real = writes.open_for_write

    def refusing(path: Path, flags: int) -> int:
        if fault.active and where(Path(path)):
            fault.refused.append(Path(path))
            raise OSError(code, os.strerror(code), str(path))
        return real(path, flags)

    monkeypatch.setattr(writes, "open_for_write", refusing)
    return fault


def named(*names: str) -> Callable[[Path], bool]:
    """A `where` for fail_writes: the file (or its temporary twin `.NAME.<pid>.tmp`) is one of `names`."""
    return lambda path: any(path.name == name or path.name.startswith(f".{name}.") for name in names)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of `size` mounted at `path`, or a skip where this machine does not allow mounting."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        pytest.skip("cannot mount a tmpfs here (no mount command)")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode(errors='replace').strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)


def snapshot(folder: Path, *, leave_out: tuple[str, ...] = ("run.lock",)) -> dict[str, bytes]:
    """Every file under `folder` and its bytes (not the transient lock): shows nothing was lost or changed."""
    files = (p for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in leave_out)
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}
