"""Reports: a run's results as one document, rendered with the app's own tables and exported for sharing.

`model` decides what a report says, `render` turns it into HTML, SVG, text, Markdown or JSON, and `export`
writes those files safely. Nothing here imports TensorFlow: a report is a pure function of RunResults.
"""

from __future__ import annotations

from pqat_tui.report.export import ReportError, default_report_dir, export_report
from pqat_tui.report.model import Report, build_report
from pqat_tui.report.render import FORMATS, render

__all__ = [
    "FORMATS",
    "Report",
    "ReportError",
    "build_report",
    "default_report_dir",
    "export_report",
    "render",
]
