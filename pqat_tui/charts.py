"""Small braille line charts (training curves) as rich renderables that fit whatever width they get.

Per-epoch figures are drawn as steps: an epoch's value spans that epoch's slot of the x axis, so one epoch
is a line across the chart rather than a dot at its right edge.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

# Braille cells are 2 dots wide and 4 tall; bit of the dot at (row, column) inside a cell.
_DOT_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_BRAILLE_BLANK = 0x2800
_AXIS_WIDTH = 7


def value_range(values: Sequence[float], *, pad_share: float) -> tuple[float, float]:
    """The lowest and highest of `values`, widened by `pad_share` of their size where they are all equal
    (a flat line still gets an axis); (0, 1) for no values."""
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    if high - low < 1e-6:
        pad = abs(high) * pad_share or pad_share
        return low - pad, high + pad
    return low, high


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[tuple[float, float], ...]  # (x, y), x increasing
    style: str
    marker: str  # the legend's sample of the line, told apart without colour too
    steps: bool = False  # each point (x, y) holds y from the start of its epoch, ceil(x) - 1, up to x


class LineChart:
    """Several series over a shared x range, drawn in braille, with a y axis and a legend."""

    def __init__(
        self,
        title: str,
        series: Sequence[Series],
        x_max: float,
        *,
        height: int = 5,
        value_format: str = "{:.3f}",
    ) -> None:
        self.title = title
        self.series = tuple(series)
        self.x_max = max(x_max, 1e-9)
        self.height = height
        self.value_format = value_format

    def _y_range(self) -> tuple[float, float]:
        return value_range([y for s in self.series for _, y in s.points], pad_share=0.05)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        columns = max(4, options.max_width - _AXIS_WIDTH)
        dots_wide, dots_high = columns * 2, self.height * 4
        low, high = self._y_range()
        cells: list[list[int]] = [[0] * columns for _ in range(self.height)]
        styles: list[list[str]] = [[""] * columns for _ in range(self.height)]

        def to_dot(x: float, y: float) -> tuple[int, int]:
            dx = round(x / self.x_max * (dots_wide - 1))
            dy = round((high - y) / (high - low) * (dots_high - 1))
            return min(max(dx, 0), dots_wide - 1), min(max(dy, 0), dots_high - 1)

        def plot(dx: int, dy: int, style: str) -> None:
            row, col = dy // 4, dx // 2
            cells[row][col] |= _DOT_BITS[dy % 4][dx % 2]
            styles[row][col] = style

        def line(start: tuple[int, int], end: tuple[int, int], style: str) -> None:
            (x0, y0), (x1, y1) = start, end
            steps = max(abs(x1 - x0), abs(y1 - y0), 1)
            for i in range(steps + 1):
                plot(x0 + (x1 - x0) * i // steps, y0 + (y1 - y0) * i // steps, style)

        for series in self.series:
            if series.steps:
                path = []
                for x, y in series.points:
                    path += [to_dot(max(math.ceil(x) - 1, 0), y), to_dot(x, y)]
            else:
                path = [to_dot(x, y) for x, y in series.points]
            for start, end in itertools.pairwise(path):
                line(start, end, series.style)
            if len(path) == 1:
                plot(*path[0], series.style)

        yield Text(self.title, style="bold")
        for row in range(self.height):
            if row == 0:
                axis = self.value_format.format(high)
            elif row == self.height - 1:
                axis = self.value_format.format(low)
            else:
                axis = ""
            line = Text(f"{axis:>{_AXIS_WIDTH - 1}}┤", style="dim")
            # One span a run of one style, not one a cell: a live chart is drawn ten times a second.
            for style, run in itertools.groupby(range(columns), key=styles[row].__getitem__):
                dots = "".join(chr(_BRAILLE_BLANK + cells[row][col]) for col in run)
                line.append(dots, style=style or None)
            yield line
        yield self._legend(options.max_width)

    def _legend(self, width: int) -> Text:
        """Each series' marker, label and latest value; narrow, the labels go before any digit is cut."""
        for with_labels, gap in ((True, " "), (True, ""), (False, "")):
            legend = Text(no_wrap=True, overflow="ellipsis")
            for series in self.series:
                latest = self.value_format.format(series.points[-1][1]) if series.points else "—"
                if legend:
                    legend.append(" ")
                legend.append(f"{series.marker}{gap}", style=series.style)
                legend.append(f"{series.label} {latest}" if with_labels else latest)
            if legend.cell_len <= width:
                break
        return legend


def training_charts(
    batches: Sequence[tuple[float, dict[str, float]]],
    epochs: Sequence[tuple[int, dict[str, float]]],
    total_epochs: int,
    height: int = 5,
) -> tuple[LineChart, LineChart]:
    """Loss and accuracy charts, as steps: train at each epoch end and where the running epoch has got to,
    validation per epoch.

    `batches` holds (fractional epoch, metrics) samples from training; `epochs` holds (epoch, metrics).
    """
    charts = []
    for metric, title in (("loss", "loss"), ("accuracy", "accuracy")):
        train = sorted(
            [(x, m[metric]) for x, m in batches if metric in m]
            + [(float(e), m[metric]) for e, m in epochs if metric in m]
        )
        val = [(float(e), m[f"val_{metric}"]) for e, m in epochs if f"val_{metric}" in m]
        charts.append(
            LineChart(
                f"{title} per epoch",
                [
                    Series("train", tuple(train), "cyan", "━", steps=True),
                    Series("val", tuple(val), "magenta", "•", steps=True),
                ],
                x_max=max(total_epochs, 1),
                height=height,
            )
        )
    return charts[0], charts[1]
