"""Every key of the app, in one list: the Footer, the help screen and the command palette read it.

Other features add their keys by appending Bindings here (each with an id, so users can remap them).
j/k stay out of the Footer (the help screen and the palette list them) so that every other key, q
included, still fits an 80-column footer.

The arrows, PageUp/PageDown and Home/End belong to the focused widget: they scroll a panel or the log, and
move through the stages in the stage list. NAVIGATION_KEYS describes them for the help screen.
"""

from __future__ import annotations

from textual.binding import Binding

APP_BINDINGS: list[Binding] = [
    Binding("n,space", "run_next", "Next", id="run_next", tooltip="Run the next pending stage"),
    Binding("a", "run_all", "All", id="run_all", tooltip="Run every remaining stage, one after another"),
    Binding(
        "r",
        "rerun",
        "Re-run",
        id="rerun",
        tooltip="Run the selected stage again; its downstream turns pending",
    ),
    Binding("c,escape", "cancel", "Cancel", id="cancel", tooltip="Stop the running stage"),
    Binding(
        "j",
        "select_next",
        "Down",
        id="select_next",
        key_display="j",
        tooltip="Select the stage below (from anywhere; ↓ too in the stage list)",
        show=False,
    ),
    Binding(
        "k",
        "select_previous",
        "Up",
        id="select_previous",
        key_display="k",
        tooltip="Select the stage above (from anywhere; ↑ too in the stage list)",
        show=False,
    ),
    Binding(
        "ctrl+d",
        "half_page(1)",
        "Half page down",
        id="half_page_down",
        key_display="ctrl+d",
        tooltip="Scroll the focused panel or log half a page down",
        show=False,
    ),
    Binding(
        "ctrl+u",
        "half_page(-1)",
        "Half page up",
        id="half_page_up",
        key_display="ctrl+u",
        tooltip="Scroll the focused panel or log half a page up",
        show=False,
    ),
    Binding(
        "e",
        "export_report",
        "Export",
        id="export_report",
        tooltip="Export the run's report (all formats) into a folder",
    ),
    Binding(
        "s",
        "settings",
        "Settings",
        id="settings",
        tooltip="Edit the config, checked as typed; the stages a change touches turn stale",
        show=False,  # an 80-column footer has no room left: ? help and the palette list it
    ),
    Binding(
        "l",
        "toggle_all_layers",
        "Layers",
        id="all_layers",
        tooltip="Per-layer tables: every layer (in model order), or the largest ones",
        show=False,
    ),
    Binding(
        "slash",
        "filter_layers",
        "Filter",
        id="filter_layers",
        key_display="/",
        tooltip="Filter the per-layer table by layer name (enter keeps the filter, esc clears it)",
        show=False,
    ),
    Binding(
        "m",
        "next_model",
        "Model",
        id="next_model",
        tooltip="Evaluate: show the next .tflite file's confusion matrix and changed images",
        show=False,
    ),
    Binding(
        "right_square_bracket",
        "next_picture",
        "Next image",
        id="next_changed_image",
        key_display="]",
        tooltip="Evaluate: step to the next test image the shown .tflite file and float predict differently",
        show=False,
    ),
    Binding(
        "left_square_bracket",
        "previous_picture",
        "Previous image",
        id="previous_changed_image",
        key_display="[",
        tooltip="Evaluate: step back to the previous changed test image",
        show=False,
    ),
    Binding(
        "i",
        "inspect_tflite",
        "Inspect",
        id="inspect_tflite",
        tooltip="Inspect the shown .tflite file: tensors, types, quantization, zeros, operators",
        show=False,
    ),
    Binding(
        "d",
        "detach",
        "Detach",
        id="detach",
        tooltip="Quit and leave the run going in the background (pqat-tui attach comes back to it)",
        show=False,
    ),
    Binding(
        "t",
        "take_control",
        "Take control",
        id="take_control",
        tooltip="Drive a run that another viewer of it drives (that one then watches)",
        show=False,
    ),
    Binding("question_mark", "help", "Help", id="help", key_display="?", tooltip="Keys and stages explained"),
    Binding("q", "request_quit", "Quit", id="quit", tooltip="Quit (asks first while a stage runs)"),
]

# Keys the focused widget handles (not app actions): listed on the help screen and in the README.
NAVIGATION_KEYS: list[tuple[str, str]] = [
    ("tab / shift+tab", "Move the focus: stage list, panel, log (the focused one has a bright border)"),
    ("↑ ↓ PgUp PgDn", "Scroll the focused panel or log; in the stage list, select a stage"),
    ("Home / End", "Top or bottom of the focused panel or log; first or last stage in the stage list"),
    ("enter", "In the stage list: focus the selected stage's panel"),
]
