"""MNIST digits drawn with half-block characters, as a rich renderable the Data panel and reports share.

Shapes only, no shading: each character cell holds two vertical pixels ("▀", "▄", "█" or a space), so the
digits stay legible with NO_COLOR and over any SSH terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

SIDE = 28  # MNIST images are 28x28
SCALE = 2  # average 2x2 pixels: a digit becomes 14 columns by 7 rows
INK_THRESHOLD = 96  # of 255: a downsampled pixel at least this bright is ink
GAP = 2

_HALF_BLOCKS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def digit_lines(pixels: bytes) -> list[str]:
    """One 28x28 uint8 image as 7 lines of 14 half-block characters."""
    if len(pixels) != SIDE * SIDE:
        raise ValueError(f"expected {SIDE * SIDE} pixels, got {len(pixels)}")
    side = SIDE // SCALE
    ink = [
        [
            sum(
                pixels[(row * SCALE + dy) * SIDE + col * SCALE + dx]
                for dy in range(SCALE)
                for dx in range(SCALE)
            )
            >= INK_THRESHOLD * SCALE * SCALE
            for col in range(side)
        ]
        for row in range(side)
    ]
    return [
        "".join(_HALF_BLOCKS[(top[col], bottom[col])] for col in range(side))
        for top, bottom in zip(ink[0::2], ink[1::2], strict=True)
    ]


class DigitStrip:
    """A few labelled digits, as many to a row as the width allows."""

    def __init__(self, images: Sequence[bytes], labels: Sequence[int], style: str = "") -> None:
        self.images = tuple(images)
        self.labels = tuple(labels)
        self.style = style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.images:
            yield Text("no preview images", style="dim")
            return
        width = SIDE // SCALE
        per_row = max(1, (options.max_width + GAP) // (width + GAP))
        drawn = [digit_lines(image) for image in self.images]
        for start in range(0, len(drawn), per_row):
            chunk = drawn[start : start + per_row]
            labels = self.labels[start : start + per_row]
            for line in range(len(chunk[0])):
                yield Text((" " * GAP).join(d[line] for d in chunk), style=self.style)
            yield Text((" " * GAP).join(f"label {label}".center(width) for label in labels), style="dim")
