"""A report as HTML, SVG, plain text, Markdown or JSON.

HTML, SVG and text come from one rich console recording of the report's renderables. Markdown reads the very
same rich Tables cell by cell, so a figure cannot differ between formats. JSON is the run's results, which
`pqat-tui report` can render again.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable

from rich._export_format import CONSOLE_SVG_FORMAT
from rich.console import Console, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.terminal_theme import MONOKAI
from rich.text import Text

from pqat_tui.fit import fit_table
from pqat_tui.report.model import Block, Bullets, Figure, Paragraph, Report

# Wide enough for the comparison table's bars, narrow enough to read in a browser or a pull request.
REPORT_WIDTH = 110

HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>{title}</title>
<style>
{{stylesheet}}
body {{{{
    color: {{foreground}};
    background-color: {{background}};
}}}}
</style>
</head>
<body>
    <pre style="font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace">\
<code style="font-family:inherit">{{code}}</code></pre>
</body>
</html>
"""

# A report is self-contained: rich's SVG template loads Fira Code from a CDN; ours uses the fonts at hand.
MONOSPACE_FONTS = "'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', 'Courier New', monospace"
SVG_PAGE = re.sub(r"\s*@font-face \{\{.*?\}\}", "", CONSOLE_SVG_FORMAT, flags=re.DOTALL).replace(
    "font-family: Fira Code, monospace;", f"font-family: {MONOSPACE_FONTS};"
)


def _block_renderable(block: Block) -> RenderableType:
    if isinstance(block, Paragraph):
        return Text(block.text, style=block.style)
    if isinstance(block, Bullets):
        return Text("\n").join(Text(f"• {line}") for line in block.lines)
    if isinstance(block, Figure):
        return block.renderable
    return fit_table(block)  # on a narrow terminal the table gives way without cutting digits


def report_renderables(report: Report) -> list[RenderableType]:
    """The report as a list of rich renderables, for a console, a recording or an app panel."""
    parts: list[RenderableType] = [
        Text(report.title, style="bold"),
        Text(report.subtitle, style="dim"),
    ]
    for section in report.sections:
        parts.append(Rule(Text(section.title, style="bold"), align="left"))
        for block in section.blocks:
            parts.append(_block_renderable(block))
            parts.append(Text(""))
    return parts


def _recording(report: Report, width: int = REPORT_WIDTH) -> Console:
    console = Console(
        record=True,
        width=width,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        legacy_windows=False,
    )
    for part in report_renderables(report):
        console.print(part)
    return console


def to_text(report: Report, width: int = REPORT_WIDTH) -> str:
    text = _recording(report, width).export_text(styles=False)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def to_html(report: Report) -> str:
    page = HTML_PAGE.format(title=_escape_html(report.title))
    # A dark page, like the terminal the tables were designed for (the SVG export is dark too).
    return _recording(report).export_html(theme=MONOKAI, code_format=page, inline_styles=False)


def to_svg(report: Report) -> str:
    return _recording(report).export_svg(title=report.title, code_format=SVG_PAGE)


def to_json(report: Report) -> str:
    return json.dumps(report.results.to_json(), indent=2) + "\n"


def _escape_html(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("{", "{{").replace("}", "}}")  # the page is a format string for rich once more


def cell_text(cell: RenderableType) -> str:
    """What a table cell shows, as plain text: Text and strings as written, other renderables as drawn."""
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return Text.from_markup(cell).plain  # rich renders a str cell's markup, so we read it the same way
    console = Console(width=REPORT_WIDTH, file=io.StringIO(), record=True, color_system=None)
    console.print(cell, end="")
    return console.export_text(styles=False).rstrip()


# Characters that mean something to Markdown (emphasis, links, code, HTML, tables, strikethrough, entities):
# backslash-escaped wherever text from a run (file names, errors, layer names) lands in the Markdown report.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")


def md_escape(text: str) -> str:
    """`text` as Markdown shows it literally, on one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", "<br>")


def _md_cell(cell: RenderableType) -> str:
    return md_escape(cell_text(cell).strip())


_ALIGN = {"left": ":---", "center": ":---:", "right": "---:", "full": "---", "default": "---"}


def table_to_markdown(table: Table) -> str:
    """A rich Table as a GitHub pipe table (title in bold above it), read from the table's own cells."""
    columns = table.columns
    lines: list[str] = []
    if table.title:
        lines += [f"**{_md_cell(table.title)}**", ""]
    lines.append("| " + " | ".join(_md_cell(c.header) or " " for c in columns) + " |")
    lines.append("|" + "|".join(_ALIGN.get(c.justify, "---") for c in columns) + "|")
    rows: Iterable[tuple[RenderableType, ...]] = zip(*(list(c.cells) for c in columns), strict=True)
    for row in rows:
        lines.append("| " + " | ".join(_md_cell(cell) for cell in row) + " |")
    if table.show_footer:
        lines.append("| " + " | ".join(_md_cell(c.footer) for c in columns) + " |")
    return "\n".join(lines)


def code_block(text: str) -> str:
    """`text` as a fenced code block, shown literally: the fence is longer than any run of backticks in it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _block_markdown(block: Block) -> str:
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Bullets):  # they name models and classes: a user's strings
        return "\n".join(f"- {md_escape(line)}" for line in block.lines)
    if isinstance(block, Figure):
        return code_block(cell_text(block.renderable))
    return table_to_markdown(block)


def to_markdown(report: Report) -> str:
    parts = [f"# {md_escape(report.title)}", f"_{report.subtitle}_"]
    for section in report.sections:
        parts.append(f"## {section.title}")
        parts += [_block_markdown(block) for block in section.blocks]
    return "\n\n".join(parts) + "\n"


FORMATS: dict[str, Callable[[Report], str]] = {
    "html": to_html,
    "svg": to_svg,
    "md": to_markdown,
    "txt": to_text,
    "json": to_json,
}


def render(report: Report, fmt: str) -> str:
    return FORMATS[fmt](report)
