"""The inspector's tables: what is inside a .tflite file, for `pqat-tui inspect` and the app's Inspector.

Pure functions of engine.tflite_inspect's TFLiteContents returning rich renderables, like pqat_tui.tables.
"""

from __future__ import annotations

from collections import Counter

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from engine.tflite_inspect import Quantization, TensorInfo, TFLiteContents

MISSING = Text("—", style="dim")
# A tensor name longer than this is cut (the JSON keeps it whole): converter names join fused ops with ';'.
NAME_WIDTH = 44


def fmt_bytes(n_bytes: int | None) -> str:
    if n_bytes is None:
        return "—"
    if n_bytes < 1000:
        return f"{n_bytes} B"
    if n_bytes < 1_000_000:
        return f"{n_bytes / 1000:.1f} KB"
    return f"{n_bytes / 1_000_000:.2f} MB"


def short_name(name: str, width: int = NAME_WIDTH) -> str:
    """The first of a fused name's parts (`a;b;c` → `a;…`), cut to `width` characters."""
    first, _, rest = name.partition(";")
    shown = first + (";…" if rest else "")
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def quantization_text(quantization: Quantization | None, *, two_lines: bool = False) -> Text:
    """`s 0.00392 zp -128` for one scale; per channel, the range over channels, their count and axis."""
    if quantization is None:
        return MISSING
    scales, zero_points = quantization.scales, quantization.zero_points
    low, high = min(zero_points), max(zero_points)
    zero_point = f"{low}" if low == high else f"{low}…{high}"
    if not quantization.per_channel:
        return Text(f"s {scales[0]:.3g} zp {zero_point}")
    channels = f"{len(scales)} ch, axis {quantization.axis}"
    values = f"s {min(scales):.2g}–{max(scales):.2g} zp {zero_point}"
    if two_lines:
        return Text.assemble(values, "\n", (channels, "cyan"))
    return Text.assemble((channels + ": ", "cyan"), values)


def _shape(tensor: TensorInfo) -> str:
    return "[" + ",".join(str(d) for d in tensor.shape) + "]"


# A line a tensor when its name keeps this much room; else the name shares its cell with shape and type.
NAME_ROOM = 28
WIDE = 120
MIN_NAME_WIDTH = 12


class TensorTable:
    """One row per tensor; constants show their share of zeros and how many distinct values they hold.

    A renderable rather than a Table: it lays itself out for the width it is given, a line per tensor when
    there is room, else name over shape and type, so 80 columns still show every figure.
    """

    def __init__(self, contents: TFLiteContents) -> None:
        self.contents = contents

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield tensor_table(self.contents, width=options.max_width)


def tensor_table(contents: TFLiteContents, width: int = WIDE) -> Table:
    """The tensors laid out for `width` columns: a line each where the names keep NAME_ROOM characters,
    else name over shape and type. The name takes what the figures leave, cut with an ellipsis."""
    headers, rows = _tensor_rows(contents, wide=True)
    widths = _column_widths(headers, rows, width)
    if widths[1] < min(NAME_ROOM, max(_widest_line(row[1]) for row in rows) if rows else 0):
        headers, rows = _tensor_rows(contents, wide=False)
        widths = _column_widths(headers, rows, width)
    table = Table(
        title=f"Tensors ({len(contents.tensors)})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        show_edge=False,
        caption="italic: activations (no data in the file; bytes once allocated)",
    )
    for header, column_width in zip(headers, widths, strict=True):
        table.add_column(
            header,
            justify="left" if header[0].isalpha() and header not in ("zeros", "unique", "bytes") else "right",
            no_wrap=True,
            overflow="ellipsis",
            width=column_width,
        )
    for row in rows:
        table.add_row(*row)
    return table


def _column_widths(headers: list[str], rows: list[list[Text]], width: int) -> list[int]:
    """Every column as wide as its longest cell but the name, which gets the rest (between two columns: one
    cell of padding and the blank divider)."""
    widths = [max([len(h)] + [_widest_line(row[i]) for row in rows]) for i, h in enumerate(headers)]
    room = width - sum(widths) + widths[1] - 2 * (len(headers) - 1)
    widths[1] = max(MIN_NAME_WIDTH, min(widths[1], room))
    return widths


def _tensor_rows(contents: TFLiteContents, *, wide: bool) -> tuple[list[str], list[list[Text]]]:
    many_graphs = contents.subgraphs > 1
    headers = ["#", "name", "shape", "dtype"] if wide else ["#", "name / shape dtype"]
    headers += ["quantization", "zeros", "unique", "bytes"]
    rows: list[list[Text]] = []
    for tensor in contents.tensors:
        index = Text(f"{tensor.subgraph}:{tensor.index}" if many_graphs else str(tensor.index), style="dim")
        zeros = MISSING if tensor.zeros is None else Text(f"{tensor.zeros:.1%}")
        if tensor.zeros is not None and tensor.zeros >= 0.3:
            zeros.stylize("bold green")
        unique = MISSING if tensor.unique_values is None else Text(f"{tensor.unique_values:,}")
        name = Text(short_name(tensor.name, 10_000 if wide else NAME_WIDTH))
        if not tensor.constant:
            name.stylize("italic")
        dtype = tensor.dtype + (" (sparse)" if tensor.sparse else "")
        figures = [
            quantization_text(tensor.quantization, two_lines=not wide),
            zeros,
            unique,
            Text(fmt_bytes(tensor.bytes), style="" if tensor.constant else "dim"),
        ]
        if wide:
            rows.append([index, name, Text(_shape(tensor)), Text(dtype), *figures])
        else:
            rows.append([index, Text.assemble(name, "\n", (f"{_shape(tensor)} {dtype}", "dim")), *figures])
    return headers, rows


def _widest_line(text: Text) -> int:
    return max(len(line) for line in text.plain.split("\n"))


def operator_table(contents: TFLiteContents) -> Table:
    table = Table(title=f"Operators ({sum(contents.operators.values())})", title_justify="left")
    table.add_column("operator")
    table.add_column("count", justify="right")
    for name, count in contents.operators.items():
        label = Text(name)
        if name in contents.custom_operators:
            label.append(" (custom)", style="yellow")
        table.add_row(label, str(count))
    if not contents.operators:
        table.add_row(MISSING, MISSING)
    return table


def _io(contents: TFLiteContents, indices: tuple[int, ...]) -> Text:
    tensors = {t.index: t for t in contents.tensors if t.subgraph == 0}
    parts = []
    for index in indices:
        tensor = tensors[index]
        parts.append(f"{short_name(tensor.name, 32)} {_shape(tensor)} {tensor.dtype}")
    return Text("; ".join(parts)) if parts else MISSING


def summary_table(contents: TFLiteContents) -> Table:
    """The file at a glance: size, inputs and outputs, and how its stored data splits over types."""
    table = Table(title=Text(contents.name), title_justify="left", show_header=False, box=box.SIMPLE)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    table.add_row("file size", f"{fmt_bytes(contents.file_bytes)} ({contents.file_bytes:,} bytes)")
    table.add_row(
        "schema",
        Text(f"version {contents.version}" + (f" · {contents.description}" if contents.description else "")),
    )
    constants = [t for t in contents.tensors if t.constant]
    table.add_row(
        "tensors",
        f"{len(contents.tensors)} ({len(constants)} with data in the file)"
        + (f" in {contents.subgraphs} subgraphs" if contents.subgraphs > 1 else ""),
    )
    by_type: Counter[str] = Counter()
    for tensor in constants:
        by_type[tensor.dtype] += tensor.bytes or 0
    if by_type:
        table.add_row(
            "stored data", " · ".join(f"{dtype} {fmt_bytes(n)}" for dtype, n in by_type.most_common())
        )
    per_channel = sum(1 for t in contents.tensors if t.quantization and t.quantization.per_channel)
    quantized = sum(1 for t in contents.tensors if t.quantization)
    table.add_row(
        "quantized", f"{quantized} tensors ({per_channel} per channel)" if quantized else "none (float)"
    )
    table.add_row("inputs", _io(contents, contents.inputs))
    table.add_row("outputs", _io(contents, contents.outputs))
    if contents.signatures:
        table.add_row("signatures", Text(", ".join(contents.signatures)))
    if contents.problems:
        shown = "\n".join(contents.problems[:3])
        more = len(contents.problems) - 3
        shown += f"\n… and {more} more (--json lists them all)" if more > 0 else ""
        table.add_row("problems", Text(f"{shown}\nLiteRT refuses such a file", style="yellow"))
    if contents.custom_operators:
        table.add_row(
            "custom ops",
            Text(", ".join(contents.custom_operators) + " (need their vendor's runtime)", style="yellow"),
        )
    return table


def inspection(contents: TFLiteContents) -> Group:
    """Everything the inspector shows, in reading order."""
    return Group(summary_table(contents), operator_table(contents), TensorTable(contents))
