"""Preview images drawn with half-block characters, as a rich renderable the Data panel and reports share.

Grey images are drawn as shapes, no shading: each character cell holds two vertical pixels ("▀", "▄", "█"
or a space), so digits stay legible with NO_COLOR and over any SSH terminal. Colour images are drawn in
colour: each cell is a "▀" whose foreground is the upper pixel and background the lower one. Either way an
image is first shrunk (averaging blocks) to about PREVIEW_COLUMNS columns.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.style import Style
from rich.text import Text

SIDE = 28  # MNIST images are 28x28
SCALE = 2  # average 2x2 pixels: a digit becomes 14 columns by 7 rows
PREVIEW_COLUMNS = 14
INK_THRESHOLD = 96  # of 255: a downsampled pixel at least this bright is ink
GAP = 2

_HALF_BLOCKS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def _shrunk(pixels: bytes, height: int, width: int, channels: int) -> list[list[tuple[int, ...]]]:
    """Rows of pixels (tuples of `channels` values), averaged over blocks to about PREVIEW_COLUMNS wide.

    The height is cut to an even number of rows, two to a character cell.
    """
    if len(pixels) != height * width * channels:
        raise ValueError(f"expected {height * width * channels} pixels, got {len(pixels)}")
    factor = max(1, round(width / PREVIEW_COLUMNS))
    rows, columns = max(1, height // factor), max(1, width // factor)
    shrunk = []
    for row in range(rows):
        line = []
        for col in range(columns):
            starts = [
                ((row * factor + dy) * width + col * factor + dx) * channels
                for dy in range(factor)
                for dx in range(factor)
                if row * factor + dy < height and col * factor + dx < width
            ]
            line.append(tuple(sum(pixels[s + c] for s in starts) // len(starts) for c in range(channels)))
        shrunk.append(line)
    if len(shrunk) % 2:
        shrunk.append([(0,) * channels] * columns)
    return shrunk


def digit_lines(pixels: bytes, height: int = SIDE, width: int = SIDE) -> list[str]:
    """A grey image (28x28 by default) as lines of half-block characters: 7 lines of 14 for a digit."""
    rows = _shrunk(pixels, height, width, 1)
    ink = [[value[0] >= INK_THRESHOLD for value in row] for row in rows]
    return [
        "".join(_HALF_BLOCKS[(top[col], bottom[col])] for col in range(len(top)))
        for top, bottom in zip(ink[0::2], ink[1::2], strict=True)
    ]


def colour_lines(pixels: bytes, height: int, width: int) -> list[Text]:
    """An RGB image as lines of "▀" cells coloured by the two pixels each covers."""
    rows = _shrunk(pixels, height, width, 3)
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2], strict=True):
        line = Text()
        for upper, lower in zip(top, bottom, strict=True):
            line.append("▀", Style(color=_rgb(upper), bgcolor=_rgb(lower)))
        lines.append(line)
    return lines


def _rgb(pixel: tuple[int, ...]) -> str:
    return f"rgb({pixel[0]},{pixel[1]},{pixel[2]})"


class DigitStrip:
    """A few labelled images (grey or colour, of `shape`), as many to a row as the width allows."""

    def __init__(
        self,
        images: Sequence[bytes],
        labels: Sequence[int],
        style: str = "",
        shape: tuple[int, int, int] = (SIDE, SIDE, 1),
        names: Sequence[str] = (),
    ) -> None:
        self.images = tuple(images)
        self.labels = tuple(labels)
        self.style = style
        self.shape = shape
        self.names = tuple(names)

    def _caption(self, label: int) -> str:
        """The class name; "label 7" for classes that have only their number."""
        if 0 <= label < len(self.names) and self.names[label] != str(label):
            return self.names[label]
        return f"label {label}"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.images:
            yield Text("no preview images", style="dim")
            return
        height, width, channels = self.shape
        if channels == 3:
            drawn = [colour_lines(image, height, width) for image in self.images]
        else:
            drawn = [
                [Text(line, style=self.style) for line in digit_lines(image, height, width)]
                for image in self.images
            ]
        cell = max(line.cell_len for lines in drawn for line in lines)
        per_row = max(1, (options.max_width + GAP) // (cell + GAP))
        for start in range(0, len(drawn), per_row):
            chunk = drawn[start : start + per_row]
            labels = self.labels[start : start + per_row]
            for line in range(max(len(lines) for lines in chunk)):
                row = Text()
                for position, lines in enumerate(chunk):
                    if position:
                        row.append(" " * GAP)
                    piece = lines[line] if line < len(lines) else Text(" " * cell)
                    row.append_text(piece)
                    row.append(" " * (cell - piece.cell_len))
                yield row
            captions = [_fit(self._caption(label), cell) for label in labels]
            yield Text((" " * GAP).join(captions), style="dim")


def _fit(text: str, width: int) -> str:
    """`text` centred in `width` columns, cut with an ellipsis when longer."""
    if len(text) > width:
        text = text[: max(1, width - 1)] + "…"
    return text.center(width)
