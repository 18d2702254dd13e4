"""`pqat-tui inspect FILE.tflite`: the tensors and operators inside any .tflite file, without TensorFlow."""

from __future__ import annotations

import argparse
import json
import sys

from engine.tflite_inspect import NotATFLiteFile, inspect_file

EXIT_OK = 0
EXIT_ERROR = 2


def inspect_command(args: argparse.Namespace) -> int:
    try:
        contents = inspect_file(args.file)
    except NotATFLiteFile as error:
        print(f"pqat-tui: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        sys.stdout.write(json.dumps(contents.to_json(), indent=2) + "\n")
        return EXIT_OK
    from rich.console import Console

    from pqat_tui.inspect_tables import inspection

    Console().print(inspection(contents))
    return EXIT_OK
