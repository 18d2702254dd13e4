"""Every key of the app, in one list: the Footer, the help screen and the command palette read it.

Other features add their keys by appending Bindings here (each with an id, so users can remap them).
The arrows' j/k stay out of the Footer (the help screen and the palette list them) so that every other key,
q included, still fits an 80-column footer.
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
        "j,down",
        "select_next",
        "Down",
        id="select_next",
        key_display="j/↓",
        tooltip="Select the stage below",
        show=False,
    ),
    Binding(
        "k,up",
        "select_previous",
        "Up",
        id="select_previous",
        key_display="k/↑",
        tooltip="Select the stage above",
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
