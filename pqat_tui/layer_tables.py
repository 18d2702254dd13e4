"""Per-layer tables that stay readable for a model of 150 layers: the support table, totals per layer type,
the largest layers first, a name filter, and the full list on request.

Pure functions of RunResults (and a `LayerView`: which rows to show) returning rich renderables, shared by
the app's panels, `pqat-tui run` and the reports, like pqat_tui.tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from engine.results import LayerSupport, RunResults, WeightSparsity, weight_layer

T = TypeVar("T")
# Up to this many rows a per-layer table is shown whole; a larger one shows its largest rows first.
COMPACT_ROWS = 12
FLOAT32_BYTES = 4
LEFT_DENSE = "left dense"  # how the engine's prune notes start for a layer whose kernel stays dense


@dataclass(frozen=True)
class LayerView:
    """Which rows of a per-layer table to show: all of them (in model order) or the largest `rows`, and
    only the names containing `name_filter` (case-insensitive)."""

    full: bool = False
    name_filter: str = ""
    rows: int = COMPACT_ROWS
    hint: str = ""  # how to see the rows left out, e.g. the app's keys
    narrow: bool = False  # fewer columns and lighter borders, for a panel 50 columns wide

    def table(self, title: str | Text) -> Table:
        """An empty table in this view's style."""
        if self.narrow:
            return Table(
                title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
            )
        return Table(title=title, title_justify="left")

    def matches(self, name: str) -> bool:
        return self.name_filter.casefold() in name.casefold()


FULL = LayerView(full=True)


def fmt_count(n: int) -> str:
    """`423,018`; `1.2M` from ten million up, where a column has no room for the digits."""
    return f"{n / 1e6:.1f}M" if n >= 10_000_000 else f"{n:,}"


def fmt_size(n_bytes: float) -> str:
    """Bytes in B, KB or MB (powers of 1000, as the .tflite sizes elsewhere)."""
    if n_bytes < 1000:
        return f"{n_bytes:.0f} B"
    if n_bytes < 1_000_000:
        return f"{n_bytes / 1000:.1f} KB"
    return f"{n_bytes / 1_000_000:.2f} MB"


def fmt_params(n: int) -> str:
    """Parameters with their float32 size: `12,810 · 51.2 KB`."""
    return f"{fmt_count(n)} · {fmt_size(n * FLOAT32_BYTES)}"


def select_rows(
    items: Sequence[T], view: LayerView, name: Callable[[T], str], size: Callable[[T], int]
) -> tuple[list[T], int]:
    """The rows a view shows (filtered; the largest first unless shown whole) and how many it leaves out."""
    matching = [item for item in items if view.matches(name(item))]
    if view.full or len(matching) <= view.rows:
        return matching, 0
    largest = sorted(matching, key=size, reverse=True)[: view.rows]
    return largest, len(matching) - len(largest)


def hidden_rows_caption(hidden: int, view: LayerView, what: str) -> str | None:
    """What the table leaves out and how to see it, or None when it shows every row."""
    filtered = f" matching '{view.name_filter}'" if view.name_filter else ""
    hint = f" ({view.hint})" if view.hint else ""
    if hidden:
        return f"the {view.rows} largest shown; {hidden} more {what}{filtered}{hint}"
    if view.name_filter:
        return f"only the {what} matching '{view.name_filter}'{hint}"
    return None


# --- The support table: what tfmot can do with each layer --------------------------------------------


def leaves_dense(layer: LayerSupport) -> bool:
    """The layer has weights that pruning leaves dense (tfmot refuses it, or never prunes its kernel)."""
    return not layer.prunable and layer.prune_note.startswith(LEFT_DENSE)


def is_unsupported(layer: LayerSupport) -> bool:
    """tfmot leaves a part of the layer undone: it stays dense when pruned, or float when quantized."""
    return leaves_dense(layer) or not layer.quantizable


def support_summary(support: Sequence[LayerSupport]) -> Text:
    """One line: layers, parameters, and how many layers tfmot prunes, leaves dense, quantizes, leaves
    float."""
    params = sum(layer.params for layer in support)
    pruned = [layer for layer in support if layer.prunable]
    held = sum(layer.params for layer in pruned) / params if params else 0.0
    dense = sum(1 for layer in support if leaves_dense(layer))
    floats = sum(1 for layer in support if not layer.quantizable)
    return Text.assemble(
        (f"{len(support)} layers, {fmt_params(params)} as float32. ", "bold"),
        f"tfmot prunes {len(pruned)} layers ({held:.0%} of the parameters)",
        (f", leaves {dense} dense" if dense else "", "yellow"),
        f"; quantizes {len(support) - floats}",
        (f", leaves {floats} float" if floats else "", "yellow"),
        ".",
    )


def _verdict(ok: bool, note: str, lacking: bool) -> Text:
    """`yes` and what tfmot does; `no` and why, where the layer loses something; else a dash (no weights,
    or none that pruning aims at)."""
    if not ok and not lacking:
        return Text(f"— {note}", style="dim")
    mark = Text("yes", style="green") if ok else Text("no", style="yellow")
    return Text.assemble(mark, " ", (note, "dim")) if note else mark


def support_table(support: Sequence[LayerSupport], view: LayerView = FULL) -> Table:
    """Per layer: its type, parameters, and whether tfmot prunes and quantizes it, and why not."""
    rows, hidden = select_rows(support, view, lambda layer: layer.name, lambda layer: layer.params)
    table = view.table("What tfmot can do with each layer")
    table.add_column("layer", overflow="fold")
    if not view.narrow:
        table.add_column("type")
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("prune", ratio=1)
    table.add_column("quantize", ratio=1)
    for layer in rows:
        # Narrow: the type under the name, rather than a column of its own.
        name = Text.assemble(layer.name, ("\n" + layer.type, "dim")) if view.narrow else Text(layer.name)
        table.add_row(
            name,
            *([] if view.narrow else [Text(layer.type)]),
            fmt_count(layer.params),
            _verdict(layer.prunable, layer.prune_note, leaves_dense(layer)),
            _verdict(layer.quantizable, layer.quantize_note, lacking=True),
        )
    if not rows:
        table.add_row(Text("no layer matches", style="dim"), *[""] * (len(table.columns) - 1))
    table.caption = hidden_rows_caption(hidden, view, "layers")
    return table


def support_types_table(support: Sequence[LayerSupport], view: LayerView = FULL) -> Table:
    """Totals per layer type, the most parameters first: what a large model is made of."""
    table = view.table("Layers by type")
    headers = ("type", "n", "params", "pruned", "quant") if view.narrow else ("type", "layers", "params")
    headers += () if view.narrow else ("size", "pruned", "quantized")
    table.add_column(headers[0], overflow="fold")
    for header in headers[1:]:
        table.add_column(header, justify="right", no_wrap=True)
    for kind, layers in _by_type(support, lambda layer: layer.type, lambda layer: layer.params):
        params = sum(layer.params for layer in layers)
        table.add_row(
            Text(kind),
            str(len(layers)),
            fmt_count(params),
            *([] if view.narrow else [fmt_size(params * FLOAT32_BYTES)]),
            _of(sum(layer.prunable for layer in layers), len(layers)) if params else MISSING,
            _of(sum(layer.quantizable for layer in layers), len(layers)),
        )
    return table


MISSING = Text("—", style="dim")


def _of(count: int, total: int) -> Text:
    return Text(f"{count}/{total}", style="" if count == total else "yellow")


def unsupported_table(support: Sequence[LayerSupport], names_shown: int = 3) -> Table:
    """The layers tfmot leaves dense or float, one row per type and reason, with their names."""
    table = Table(title="Layers tfmot leaves dense or float", title_justify="left")
    table.add_column("type", no_wrap=True)
    table.add_column("layers", justify="right", no_wrap=True)
    table.add_column("names", ratio=1, overflow="fold")
    table.add_column("why", ratio=1)
    groups: dict[tuple[str, str], list[str]] = {}
    for layer in support:
        if is_unsupported(layer):
            reasons = [layer.prune_note] if leaves_dense(layer) else []
            reasons += [] if layer.quantizable else [layer.quantize_note]
            groups.setdefault((layer.type, "; ".join(reasons)), []).append(layer.name)
    for (kind, why), names in groups.items():
        listed = ", ".join(names[:names_shown])
        more = f", … {len(names) - names_shown} more" if len(names) > names_shown else ""
        table.add_row(Text(kind), str(len(names)), Text(listed + more), Text(why, style="dim"))
    return table


def _by_type(
    items: Iterable[T], kind: Callable[[T], str], size: Callable[[T], int]
) -> list[tuple[str, list[T]]]:
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(kind(item), []).append(item)
    return sorted(groups.items(), key=lambda group: sum(size(item) for item in group[1]), reverse=True)


def support_overview(support: Sequence[LayerSupport], view: LayerView = LayerView()) -> RenderableType:
    """What `run` prints before training: the whole table for a small model; for a large one the summary,
    the totals per type and the layers tfmot leaves dense or float."""
    if not support:
        return Text("")
    if len(support) <= view.rows or view.full:
        return Group(support_summary(support), support_table(support, view))
    parts: list[RenderableType] = [support_summary(support), support_types_table(support)]
    if any(is_unsupported(layer) for layer in support):
        parts.append(unsupported_table(support))
    return Group(*parts)


def support_panel(support: Sequence[LayerSupport], view: LayerView) -> RenderableType:
    """The Baseline panel's model section: the summary, the totals per type of a large model, the table."""
    if not support:
        return Text(
            "tfmot checks the model's layers once the data is loaded (its shape sets the model's).", "dim"
        )
    parts: list[RenderableType] = [support_summary(support)]
    if len(support) > view.rows:
        parts.append(support_types_table(support, view))
    parts.append(support_table(support, view))
    return Group(*parts)


# --- Sparsity of many weights ------------------------------------------------------------------------


def type_of_weight(results: RunResults) -> Callable[[str], str]:
    """A weight's layer type, from the support table (`?` for results recorded without it)."""
    types = {layer.name: layer.type for layer in results.layer_support}
    return lambda weight: types.get(weight_layer(weight), "?")


def sparsity_by_type_table(
    results: RunResults, models: Sequence[str], labels: dict[str, str], view: LayerView = FULL
) -> Table:
    """Zeros in the kernels of each layer type, per model: a large model's sparsity at a glance."""
    kind = type_of_weight(results)
    table = view.table("Kernel sparsity by layer type")
    table.add_column("type", overflow="fold")
    table.add_column("n" if view.narrow else "kernels", justify="right", no_wrap=True)
    if not view.narrow:
        table.add_column("params", justify="right", no_wrap=True)
    for name in models:
        table.add_column(Text(labels.get(name, name)), justify="right", no_wrap=True)
    kernels = _kernels_by_name(results, models)
    for type_name, names in _by_type(kernels, lambda weight: kind(weight), lambda weight: kernels[weight]):
        cells = []
        for name in models:
            model = results.models.get(name)
            found = [w for w in model.sparsity if w.name in names] if model else []
            dense = bool(model) and all(model.left_dense(w.name) for w in found)
            cells.append(_share(found, dense, view.narrow))
        params = [] if view.narrow else [fmt_count(sum(kernels[n] for n in names))]
        table.add_row(Text(type_name), str(len(names)), *params, *cells)
    return table


def _kernels_by_name(results: RunResults, models: Sequence[str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for name in models:
        model = results.models.get(name)
        for weight in model.sparsity if model else ():
            if "kernel" in weight.name:
                sizes.setdefault(weight.name, weight.total)
    return sizes


def _share(weights: Sequence[WeightSparsity], dense: bool, narrow: bool) -> Text:
    total = sum(w.total for w in weights)
    if not total:
        return MISSING
    if dense:
        return Text("dense" if narrow else f"{sum(w.zeros for w in weights) / total:.1%} dense", style="dim")
    return Text(f"{sum(w.zeros for w in weights) / total:.1%}")
