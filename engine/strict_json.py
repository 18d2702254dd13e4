"""Reading the JSON files of a run (manifest, results, lock) strictly and at a bounded cost.

`read_json_file` reads only a regular file, only up to a size bound, and refuses text that is not UTF-8,
not JSON or nested absurdly deep. `Node` then walks the parsed value with the type each key must have; a
wrong one raises ShapeError whose message names the key path and what was found, e.g.
`models.pqat.keras_accuracy: expected a number or null, got a string`. The readers built on it
(engine.results, engine.run_store) are the only places that check these files; what they return is typed.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

# No run writes a manifest or results file anywhere near this; a bigger file is not ours.
MAX_JSON_BYTES = 64 * 2**20
# Our files nest five levels deep; json's recursion would give up near a thousand.
MAX_DEPTH = 64

T = TypeVar("T")


class ShapeError(ValueError):
    """A document of the wrong shape; the message is one line naming the key path and what was wrong."""


class FileContentError(ValueError):
    """A file that cannot be read as the document it should be; the message is one line naming the file."""


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (iteratively: no recursion to exhaust)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            level += 1
            deepest = max(deepest, level)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((child, level) for child in item)
    return deepest


def read_bounded(path: Path, limit: int) -> bytes:
    """A regular file's bytes, refused (FileContentError) when it is not one or is over `limit` bytes.

    Checked on the opened file, so neither a FIFO (which would block), a device (/dev/zero, endless) nor a
    file swapped in between the check and the read is ever read.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise FileContentError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FileContentError(f"{path}: is a folder, not a file") from None
    except OSError as error:
        raise FileContentError(f"{path}: cannot read ({_reason(error)})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise FileContentError(f"{path}: is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise FileContentError(f"{path}: not a regular file")
        if info.st_size > limit:
            raise FileContentError(
                f"{path}: {info.st_size:,} bytes, over the {_size(limit)} such a file can be"
            )
        try:
            content = handle.read(limit + 1)
        except OSError as error:
            raise FileContentError(f"{path}: cannot read ({_reason(error)})") from None
    if len(content) > limit:
        raise FileContentError(f"{path}: over the {_size(limit)} such a file can be")
    return content


def read_json_file(path: Path, *, limit: int = MAX_JSON_BYTES) -> Any:
    """The JSON value in a file; FileContentError (one line naming the file) for anything else."""
    content = read_bounded(path, limit)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise FileContentError(f"{path}: not a JSON file (not UTF-8 text)") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise FileContentError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise FileContentError(f"{path}: not a pqat-tui file (JSON nested too deeply)") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise FileContentError(f"{path}: not a pqat-tui file ({' '.join(str(error).split())})") from None
    if _depth(value) > MAX_DEPTH:
        raise FileContentError(f"{path}: not a pqat-tui file (JSON nested too deeply)")
    return value


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(error: OSError) -> str:
    from engine.writes import os_error_cause

    return os_error_cause(error)


def _size(limit: int) -> str:
    return f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit:,} bytes"


@dataclass(frozen=True)
class Node:
    """A value of a parsed document and where it is (`models.pqat.tflite`), with typed accessors."""

    value: Any
    where: str = ""
    nullable: bool = False  # reached through `optional`: null would have been fine too

    def fail(self, expected: str, *, out_of_range: bool = False) -> NoReturn:
        got = _shorten(repr(self.value)) if out_of_range else _describe(self.value)
        either = " or null" if self.nullable else ""
        where = f"{self.where}: " if self.where else ""
        raise ShapeError(f"{where}expected {expected}{either}, got {got}")

    def _child(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.where}[{key}]"
        if not key.isprintable():  # a newline in a key name would make the one-line error two lines
            key = key.encode("unicode_escape").decode("ascii")
        return f"{self.where}.{key}" if self.where else key

    # Containers.

    def fields(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            self.fail("an object")
        return self.value

    def has(self, key: str) -> bool:
        return self.fields().get(key) is not None

    def key(self, name: str) -> Node:
        """A key that must be there (null counts as there: the type check says what is wrong)."""
        values = self.fields()
        if name not in values:
            raise ShapeError(f"{self._child(name)}: missing")
        return Node(values[name], self._child(name))

    def optional(self, name: str) -> Node | None:
        """A key that may be missing or null (both give None)."""
        value = self.fields().get(name)
        return None if value is None else Node(value, self._child(name), nullable=True)

    def entries(self) -> list[tuple[str, Node]]:
        """An object's keys and values, in file order."""
        return [(name, Node(value, self._child(name))) for name, value in self.fields().items()]

    def elements(self) -> list[Node]:
        if not isinstance(self.value, list):
            self.fail("an array")
        return [Node(value, self._child(index)) for index, value in enumerate(self.value)]

    def mapping(self, read: Callable[[Node], T]) -> dict[str, T]:
        """An object whose every value `read` turns into T."""
        return {name: read(node) for name, node in self.entries()}

    def sequence(self, read: Callable[[Node], T]) -> tuple[T, ...]:
        return tuple(read(node) for node in self.elements())

    # Scalars.

    def string(self) -> str:
        if not isinstance(self.value, str):
            self.fail("a string")
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail("true or false")
        return self.value

    def integer(self, minimum: int | None = 0, maximum: int | None = None) -> int:
        value = self.value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)  # 3.0 is the integer 3: JSON does not tell them apart
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail("an integer")
        if value.bit_length() > 63:  # no count or size of ours is near it; TensorFlow would overflow on it
            raise ShapeError(
                f"{self.where}: expected an integer of at most 64 bits, got {value.bit_length()} bits"
            )
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            self.fail(_range("an integer", minimum, maximum), out_of_range=True)
        return value

    def number(
        self, *, finite: bool = True, minimum: float | None = None, maximum: float | None = None
    ) -> float:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail("a number")
        if isinstance(value, int) and abs(value) > 2**1000:
            self.fail("a number of sensible size")
        value = float(value)
        if finite and not math.isfinite(value):
            self.fail("a finite number")
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            self.fail(_range("a number", minimum, maximum), out_of_range=True)
        return value


def _range(kind: str, minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{kind} in [{minimum:g}, {maximum:g}]"
    if minimum is not None:
        return f"{kind} >= {minimum:g}"
    return f"{kind} <= {maximum:g}"


def document(data: Any, kind: str, schema: int, *, older: tuple[int, ...] = ()) -> Node:
    """The top of a parsed `kind` file ("results", "manifest"): a JSON object carrying `"schema": schema`
    (or one of the `older` schemas its reader still reads)."""
    top = Node(data)
    if not isinstance(data, dict):
        top.fail(f"a JSON object (not a pqat-tui {kind} file)")
    found = top.key("schema").integer(minimum=None) if "schema" in data else None
    if found != schema and found not in older:
        expected = " or ".join(str(s) for s in (*older, schema))
        raise ShapeError(f"unsupported {kind} schema {found!r} (expected {expected})")
    return top


def optional_number(node: Node | None, **limits: Any) -> float | None:
    return None if node is None else node.number(**limits)


def optional_string(node: Node | None) -> str | None:
    return None if node is None else node.string()
