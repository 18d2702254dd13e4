"""The `pqat-tui` command's entry point, importing nothing until Ctrl-C is handled.

Ctrl-C lands wherever the process happens to be: importing the command line, numpy or TensorFlow, loading
a model. The command then ends with one line and exit status 130, never a traceback. `pqat-tui run` stops a
running stage cleanly itself (pqat_tui.headless); this is for every other moment. Nothing is left
half-written either way: every file is written atomically (engine.writes).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    try:
        from pqat_tui.cli import main as cli_main

        return cli_main(argv)
    except KeyboardInterrupt:
        print("pqat-tui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
