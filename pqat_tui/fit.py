"""Tables that fit the width they are drawn at without cutting a number.

rich squeezes a table that is too wide by cutting its cells ("0.93…"). Here a table gives way in an order
a reader can live with instead: first its decoration (bar columns, then the box and padding), then its
headers (they wrap above digits that keep their width), and last its shape (a column a row, for tables
with many columns and few rows). The first of those renderings that fits is drawn; where none does, the
narrowest is.

Columns that hold numbers are created with `no_wrap=True`: that is how a table says "never cut these".
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Sequence
from dataclasses import replace

from rich import box
from rich.bar import Bar
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text

ELLIPSIS = "…"


def fits(console: Console, options: ConsoleOptions, renderable: RenderableType) -> bool:
    """Whether `renderable` draws within options.max_width without rich cutting any cell short."""
    # Measured unbounded: rich clamps a measurement to the width it is given.
    if Measurement.get(console, options.update_width(10_000), renderable).minimum > options.max_width:
        return False
    lines = console.render_lines(renderable, options.update(height=None), pad=False)
    return not any(ELLIPSIS in segment.text for line in lines for segment in line)


class FitToWidth:
    """Draws the first of several renderings of the same content that fits; else the last one."""

    def __init__(self, *variants: RenderableType) -> None:
        assert variants, "FitToWidth needs at least one rendering"
        self.variants = variants
        self._chosen: dict[int, RenderableType] = {}

    def choose(self, console: Console, options: ConsoleOptions) -> RenderableType:
        width = options.max_width
        if width not in self._chosen:
            self._chosen[width] = next(
                (v for v in self.variants[:-1] if fits(console, options, v)), self.variants[-1]
            )
        return self._chosen[width]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.choose(console, options)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.choose(console, options))


def fit_table(table: Table) -> FitToWidth:
    """`table`, then the same with less decoration, with wrapped headers, and last turned on its side when
    it is a table of figures (a label column, then only columns of digits or bars)."""
    return FitToWidth(*fit_variants(table))


def fit_variants(table: Table) -> list[Table]:
    variants = compact_variants(table)
    if is_table_of_figures(table):
        turned = with_fixed_digits(transposed(variants[-1]))
        variants += [turned, with_wrapped_headers(turned)]
    return _distinct(variants)


def is_table_of_figures(table: Table) -> bool:
    return len(table.columns) > 2 and all(c.no_wrap or is_bar_column(c) for c in table.columns[1:])


def compact_variants(table: Table) -> list[Table]:
    """The table; without its bar columns; without box and padding; with headers that wrap."""
    table = with_fixed_digits(table)
    variants = [table]
    bare = without_bars(table)
    variants.append(bare)
    unboxed = plain_box(bare)
    variants.append(unboxed)
    variants.append(with_wrapped_headers(unboxed))
    return _distinct(variants)


def _distinct(variants: Sequence[Table]) -> list[Table]:
    unique: list[Table] = []
    for variant in variants:
        if all(variant is not seen for seen in unique):
            unique.append(variant)
    return unique


def _copy(table: Table, columns: Sequence[Column]) -> Table:
    duplicate = copy.copy(table)
    duplicate.columns = [replace(column, _cells=list(column._cells)) for column in columns]
    for index, column in enumerate(duplicate.columns):
        column._index = index
    duplicate.rows = list(table.rows)
    return duplicate


def is_bar_column(column: Column) -> bool:
    """A column of bars (and dashes where a model has no value): decoration, the first thing to go."""
    cells = list(column._cells)
    return any(isinstance(c, Bar) for c in cells) and all(
        isinstance(c, Bar) or (isinstance(c, Text) and c.plain.strip() in ("", "—")) for c in cells
    )


def without_bars(table: Table) -> Table:
    kept = [c for c in table.columns if not is_bar_column(c)]
    return table if len(kept) == len(table.columns) else _copy(table, kept)


def plain_box(table: Table) -> Table:
    """No outer box and no vertical rules: a rule under the header and one space between columns."""
    if table.box in (None, box.SIMPLE_HEAD) and not table.pad_edge:
        return table
    duplicate = _copy(table, table.columns)
    duplicate.box = box.SIMPLE_HEAD
    duplicate.show_edge = False
    duplicate.pad_edge = False
    duplicate.padding = (0, 0, 0, 0)  # the box's blank column rule is the one space between columns
    return duplicate


_MEASURING = Console(width=1000, file=io.StringIO(), color_system=None, legacy_windows=False)


def _widest(cells: Sequence[RenderableType]) -> int:
    options = _MEASURING.options
    return max((Measurement.get(_MEASURING, options, cell).maximum for cell in cells), default=0)


def _plain(cell: RenderableType) -> str | None:
    if isinstance(cell, Text):
        return cell.plain
    return cell if isinstance(cell, str) else None


def _widest_word(cell: RenderableType) -> int:
    return max((len(word) for word in (_plain(cell) or "").split()), default=0)


# A cell of figures: digits and what goes with them ("50.0% 54/108", "1e-05", "—"), no letters but units.
_FIGURES = re.compile(r"[\d\s.,:%/×+\-—e]*(KB|MB|s)?")


def is_figures_column(column: Column) -> bool:
    """Whether a wrapping column holds only figures: it may wrap between them, never cut one."""
    texts = [_plain(cell) for cell in column._cells]
    return (
        bool(texts)
        and all(text is not None and _FIGURES.fullmatch(text.strip()) for text in texts)
        and any(any(ch.isdigit() for ch in text or "") for text in texts)
    )


def with_fixed_digits(table: Table) -> Table:
    """Columns of digits (`no_wrap`, or only figures such as "50.0% 10140/20280") get a fixed width, their
    widest cell's: rich squeezes the other columns first, and a table whose digits cannot fit measures wider
    than the width it has."""
    columns = []
    for column in table.columns:
        if column.width is None and (column.no_wrap or is_figures_column(column)):
            column = replace(column, width=max(1, _widest([column.header, *column._cells])))
        columns.append(column)
    return _copy(table, columns)


def with_wrapped_headers(table: Table) -> Table:
    """Columns of digits only as wide as their digits, or their figures where a cell holds several, or their
    header's longest word: headers (and cells of several figures) wrap between words, never inside one."""
    columns = []
    changed = False
    for column in table.columns:
        if column._cells and (column.no_wrap or is_figures_column(column)):
            digits = (
                _widest(list(column._cells))
                if column.no_wrap
                else max(_widest_word(cell) for cell in column._cells)
            )
            width = max(digits, _widest_word(column.header))
            if width < (column.width or _widest([column.header, *column._cells])):
                column = replace(column, width=width, no_wrap=False)
                changed = True
        columns.append(column)
    return _copy(table, columns) if changed else table


def transposed(table: Table) -> Table:
    """A column a row and a row a column; the first column's cells become the headers."""
    if not table.columns:
        return table
    first, *others = table.columns
    turned = Table(
        title=table.title,
        title_justify=table.title_justify,
        caption=table.caption,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 0, 0, 0),
    )
    turned.add_column(first.header)
    for label in first._cells:
        turned.add_column(label, justify="right", no_wrap=True)
    for column in others:
        header = column.header if isinstance(column.header, Text) else Text(str(column.header))
        turned.add_row(Text(header.plain, style="bold"), *column._cells)
    return turned
