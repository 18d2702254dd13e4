"""A scatter plot drawn with text: one labelled mark per point, at whatever width it is given.

Used for accuracy against zipped size (pqat_tui.deployed). Marks are characters, not colours alone, so the
chart reads the same in a terminal, an SVG, an HTML page and a Markdown code block. A label goes beside its
mark where there is room (right, left, then the rows above and below); where there is none the mark gets a
one-character key and the legend under the chart names it, so no label is ever drawn over another.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from pqat_tui.charts import value_range

_AXIS_WIDTH = 7  # "0.943 ┤"
_KEYS = "123456789abcdefghijklmnopqrstuvwxyz"
_NICE_STEPS = (1, 2, 5)


@dataclass(frozen=True)
class Point:
    label: str
    x: float
    y: float
    mark: str  # one character
    style: str = ""  # the mark's and the label's


@dataclass
class _Canvas:
    rows: int
    columns: int

    def __post_init__(self) -> None:
        self.cells: list[list[tuple[str, str]]] = [[(" ", "")] * self.columns for _ in range(self.rows)]

    def free(self, row: int, start: int, length: int, before: int = 2, after: int = 2) -> bool:
        """Whether `length` cells from `start` are blank, and `before`/`after` cells beside them (or the
        edge): two words two spaces apart do not read as one label."""
        if row < 0 or row >= self.rows or start < 0 or start + length > self.columns:
            return False
        first, last = max(start - before, 0), min(start + length + after, self.columns)
        return all(self.cells[row][c][0] == " " for c in range(first, last))

    def nearest_free(self, row: int, column: int) -> int:
        """`column`, or the nearest free cell at most two away: two files in one cell stay two marks."""
        for offset in (0, 1, -1, 2, -2):
            spot = column + offset
            if 0 <= spot < self.columns and self.cells[row][spot][0] == " ":
                return spot
        return column

    def write(self, row: int, start: int, text: str, style: str) -> None:
        for offset, char in enumerate(text):
            self.cells[row][start + offset] = (char, style)

    def line(self, row: int) -> Text:
        text = Text()
        for char, style in self.cells[row]:
            text.append(char, style=style or None)
        return text


class ScatterChart:
    """Points on a y axis of `y_format` values and an x axis (logarithmic when it spans more than
    `log_span` times) with a unit; the title line states what the marks mean."""

    def __init__(
        self,
        title: str,
        points: Sequence[Point],
        *,
        x_unit: str,  # at most 5 characters: it stands left of the x axis's values
        height: int = 10,
        y_format: str = "{:.3f}",
        log_span: float = 4.0,
        notes: Sequence[Text] = (),
    ) -> None:
        self.title = title
        self.points = tuple(points)
        self.x_unit = x_unit
        self.height = max(height, 3)
        self.y_format = y_format
        self.log_span = log_span
        self.notes = tuple(notes)

    # Scales.

    def _x_range(self) -> tuple[float, float, bool]:
        xs = [p.x for p in self.points if p.x > 0]
        if not xs:
            return 0.0, 1.0, False
        low, high = min(xs), max(xs)
        log = high / low >= self.log_span
        if high - low < 1e-9:
            low, high = low * 0.9, high * 1.1
        return low, high, log

    def _y_range(self) -> tuple[float, float]:
        return value_range([p.y for p in self.points], pad_share=0.01)

    def _column(self, x: float, columns: int) -> int:
        low, high, log = self._x_range()
        if log:
            share = (math.log(x) - math.log(low)) / (math.log(high) - math.log(low))
        else:
            share = (x - low) / (high - low)
        return min(max(round(share * (columns - 1)), 0), columns - 1)

    def _row(self, y: float) -> int:
        low, high = self._y_range()
        return min(max(round((high - y) / (high - low) * (self.height - 1)), 0), self.height - 1)

    # Drawing.

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.points:  # an empty grid says nothing the notes do not
            yield Text(self.title, style="bold", overflow="fold")
            yield from self.notes
            return
        width = options.max_width
        columns = max(8, width - _AXIS_WIDTH)
        canvas = _Canvas(self.height, columns)
        placed = []
        for point in self.points:
            row = self._row(point.y)
            column = canvas.nearest_free(row, self._column(point.x, columns))
            canvas.write(row, column, point.mark, point.style)
            placed.append((point, row, column))
        keyed: list[tuple[str, Point]] = []
        for point, row, column in placed:
            if not _place_label(canvas, point, row, column):
                key = _KEYS[len(keyed) % len(_KEYS)]
                free = [
                    s for s in (column + 1, column - 1) if 0 <= s < columns and canvas.cells[row][s][0] == " "
                ]
                # Beside the mark; in a crowd, in its place: a key the legend names is always on the chart.
                canvas.write(row, free[0] if free else column, key, point.style)
                keyed.append((key, point))
        yield Text(self.title, style="bold", overflow="fold")
        for row in range(self.height):
            yield Text.assemble(self._y_axis(row), canvas.line(row))
        yield from self._x_axis(columns)
        if keyed:
            legend = Text()
            for key, point in keyed:
                if legend:
                    legend.append("  ")
                legend.append(f"{key} {point.label}", style=point.style or None)
            yield legend
        yield from self.notes

    def _y_axis(self, row: int) -> Text:
        low, high = self._y_range()
        labelled = {0: high, self.height - 1: low}
        if self.height >= 7:
            labelled[(self.height - 1) // 2] = high - (high - low) * ((self.height - 1) // 2) / (
                self.height - 1
            )
        if row in labelled:
            return Text(f"{self.y_format.format(labelled[row]):>{_AXIS_WIDTH - 1}}┤", style="dim")
        return Text(f"{'':>{_AXIS_WIDTH - 1}}│", style="dim")

    def _x_axis(self, columns: int) -> list[Text]:
        rule = ["─"] * columns
        labels = [" "] * columns
        taken = -2
        for value in self._ticks():
            column = self._column(value, columns)
            text = f"{value:g}"
            start = min(max(column - len(text) // 2, 0), columns - len(text))
            if start <= taken + 1:
                continue
            rule[column] = "┬"
            labels[start : start + len(text)] = text
            taken = start + len(text) - 1
        unit = self.x_unit[: _AXIS_WIDTH - 2]  # under the y axis's values, left of the x axis's
        return [
            Text(f"{'':>{_AXIS_WIDTH - 1}}└" + "".join(rule), style="dim"),
            Text(f"{unit:>{_AXIS_WIDTH - 2}}  " + "".join(labels), style="dim"),
        ]

    def _ticks(self) -> list[float]:
        """Round values inside the x range: its ends, and 1-2-5 steps between them."""
        low, high, log = self._x_range()
        if not self.points:
            return []
        inner: list[float] = []
        if log:
            exponent = math.floor(math.log10(low))
            while 10**exponent <= high:
                inner += [step * 10**exponent for step in _NICE_STEPS if low < step * 10**exponent < high]
                exponent += 1
        else:
            span = (high - low) / 4
            magnitude = 10 ** math.floor(math.log10(span)) if span > 0 else 1
            step = next((s * magnitude for s in (*_NICE_STEPS, 10) if s * magnitude >= span), span)
            value = math.ceil(low / step) * step
            while value < high:
                if value > low:
                    inner.append(round(value, 10))
                value += step
        return [_round(low), *inner, _round(high)]


def _round(value: float) -> float:
    """A range end as an axis shows it: two significant figures below 100, whole numbers above."""
    return float(f"{value:.2g}") if value < 100 else round(value)


def _place_label(canvas: _Canvas, point: Point, row: int, column: int) -> bool:
    """Write `point`'s label beside its mark where it fits without touching another; False where not."""
    text = point.label
    length = len(text)
    candidates = [  # (row, start, blank cells before, after): right of the mark, left, then above, below
        (row, column + 2, 1, 2),
        (row, column - 1 - length, 2, 1),
        (row - 1, column, 2, 2),
        (row + 1, column, 2, 2),
        (row - 1, column - length + 1, 2, 2),
        (row + 1, column - length + 1, 2, 2),
    ]
    for spot_row, start, before, after in candidates:
        if canvas.free(spot_row, start, length, before, after):
            canvas.write(spot_row, start, text, point.style)
            return True
    return False
