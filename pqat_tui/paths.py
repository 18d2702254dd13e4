"""Where the app's files are: the repository's assets/ when run from a checkout, pqat_tui/assets installed."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def asset_path(name: str) -> Path:
    """The asset `name`, from the installed package or else the source checkout."""
    for folder in (_PACKAGE / "assets", _PACKAGE.parent / "assets"):
        candidate = folder / name
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"asset {name!r} is in neither {_PACKAGE / 'assets'} nor {_PACKAGE.parent / 'assets'}"
    )
