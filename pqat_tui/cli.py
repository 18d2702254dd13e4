"""The `pqat-tui` command line: the app by default, `run` headless, `report` to re-render a results file,
`config` to print the effective config, `ps` to list runs and `attach` to open the app on a running one.

Each command's work lives in its own module, imported only when that command runs, so that `--help` and
`report` never pay for TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from engine.config import PipelineConfig
from engine.config_file import (
    CONFIG_FILE_NAME,
    ConfigError,
    check_setting,
    config_to_toml,
    find_config_file,
    parse_setting,
    read_config_file,
    setting_keys,
    unknown_key_error,
    with_setting,
)
from engine.run_store import (
    CONFIG_FILE,
    DEFAULT_RUNS_ROOT,
    MANIFEST_FILE,
    WORKER_FILE,
    RunFolder,
    RunStoreError,
    resolve_resume_dir,
)
from engine.user_model import UserModelError, check_model_file, saved_model_choice

EXIT_USAGE = 2
RESUME_LATEST = ""  # `--resume` given without a folder
# The formats of `pqat-tui report` (pqat_tui.report.render.FORMATS, not imported here: --help stays light).
REPORT_FORMATS = ["html", "svg", "md", "txt", "json"]
ATTACHABLE = (MANIFEST_FILE, WORKER_FILE)  # a run folder holds one of these from its first second


def _pipeline_options(*, for_subcommand: bool = False) -> argparse.ArgumentParser:
    """Options shared by the app and `run`: every default comes from PipelineConfig.

    A subcommand's copy leaves options it was not given out of the namespace (SUPPRESS), so that
    `pqat-tui --sparsity 0.7 run` keeps the value given before the subcommand.
    """
    defaults = PipelineConfig()
    parser = argparse.ArgumentParser(
        add_help=False, argument_default=argparse.SUPPRESS if for_subcommand else None
    )
    group = parser.add_argument_group("pipeline")
    group.add_argument(
        "--data",
        metavar="SOURCE",
        help="mnist, fashion_mnist, sample, a .npz file, a folder of MNIST IDX files or a folder of images "
        f"with one sub-folder per class (default: {defaults.data})",
    )
    group.add_argument(
        "--image-size",
        metavar="HxW",
        help='resize every image to height x width, e.g. 32x32 (default: their own size; "" keeps it)',
    )
    colour = group.add_mutually_exclusive_group()
    colour.add_argument(
        "--grayscale",
        dest="color_mode",
        action="store_const",
        const="grayscale",
        help="convert the images to one grey channel",
    )
    colour.add_argument(
        "--rgb", dest="color_mode", action="store_const", const="rgb", help="convert the images to RGB"
    )
    group.add_argument(
        "--test-split",
        type=float,
        metavar="F",
        help="an image folder without test/: share of each class held out for testing, seeded "
        f"(default: {defaults.test_split})",
    )
    group.add_argument(
        "--strategy",
        metavar="NAME",
        help="default (one device), mirrored (every visible GPU) or multiworker (TF_CONFIG) "
        f"(default: {defaults.strategy})",
    )
    group.add_argument(
        "--epochs", type=int, help=f"baseline training epochs (default: {defaults.baseline.epochs})"
    )
    group.add_argument(
        "--prune-epochs", type=int, help=f"pruning fine-tune epochs (default: {defaults.prune.epochs})"
    )
    group.add_argument(
        "--sparsity", type=float, help=f"target sparsity of pruning (default: {defaults.prune.sparsity})"
    )
    group.add_argument("--seed", type=int, help=f"random seed (default: {defaults.seed})")
    group.add_argument(
        "--recipe",
        metavar="NAME",
        help="which stages run: pqat (today's eight), collaborative (every branch: clustering, CQAT, PCQAT, "
        "2:4, PTQ variants) or the one your config's [recipe] table defines "
        f"(default: {defaults.recipe.name})",
    )
    group.add_argument(
        "--config",
        metavar="FILE",
        help=f"read settings from this TOML file (default: ./{CONFIG_FILE_NAME} when there is one)",
    )
    group.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        dest="settings",
        help="override any config key, e.g. --set prune.frequency=50 (repeatable; see `pqat-tui config`)",
    )
    model = parser.add_argument_group("your own model")
    model.add_argument(
        "--model",
        metavar="PATH",
        help="a .keras or .h5 Keras model to use instead of the example's (loaded in safe mode); its input "
        "must match the data's images and it needs one output per class (logits, or a softmax)",
    )
    model.add_argument(
        "--no-train",
        action="store_true",
        default=argparse.SUPPRESS if for_subcommand else False,
        help="with --model: evaluate the model as it is instead of fine-tuning it in the baseline stage",
    )
    runs = parser.add_argument_group("run folder")
    runs.add_argument(
        "--run-dir",
        metavar="DIR",
        help=f"keep the run's config, models, results and log in DIR (default: {DEFAULT_RUNS_ROOT}/<time>/); "
        "a folder that already holds a run is resumed",
    )
    runs.add_argument(
        "--resume",
        metavar="DIR",
        nargs="?",
        const=RESUME_LATEST,
        help=f"reopen a run (default: the latest under {DEFAULT_RUNS_ROOT}/): stages whose inputs are "
        "unchanged are kept, changed ones and everything after them run again",
    )
    return parser


def _sentence(summary: str) -> str:
    """A subcommand's one-line help as the first sentence of its own --help."""
    return f"{summary[:1].upper()}{summary[1:]}."


def build_parser() -> argparse.ArgumentParser:
    common = _pipeline_options(for_subcommand=True)
    parser = argparse.ArgumentParser(
        prog="pqat-tui",
        parents=[_pipeline_options()],
        description="Walk a Keras model through pruning, QAT, pruning-preserving QAT and TFLite conversion.",
    )
    commands = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        help="without one, the interactive app starts (in the app, ? lists every key)",
    )
    run_help = "run every stage headless, with progress bars, and print the tables"
    run = commands.add_parser(
        "run",
        parents=[common],
        help=run_help,
        description=f"{_sentence(run_help)} Finished stages are kept in the run folder "
        "(--resume picks them up). Exit status: 0 done, 1 a stage failed, 2 bad input, 130 interrupted.",
    )
    run.add_argument("--json", metavar="PATH", help="write the results as JSON (schema 2)")
    run.add_argument("--report", metavar="DIR", help="export a report (all formats) into DIR")
    run.add_argument(
        "--detach",
        action="store_true",
        help="run every stage in a background engine process and return at once; it writes to the run "
        "folder and survives the terminal (`pqat-tui attach` watches it, `pqat-tui ps` lists it)",
    )
    attach_help = (
        "open the app on a run whose engine process is running (after `d`, `run --detach` or a dropped "
        "connection); a run that has ended is reopened"
    )
    attach = commands.add_parser(
        "attach",
        help=attach_help,
        description=_sentence(attach_help),
    )
    attach.add_argument(
        "run",
        metavar="RUN",
        nargs="?",
        help=f"the run folder (default: the latest live run under {DEFAULT_RUNS_ROOT}/, else the latest run)",
    )
    ps_help = "list runs: folder, state (running with pid, stage and progress / finished / failed / ...)"
    ps = commands.add_parser("ps", help=ps_help, description=_sentence(ps_help))
    ps.add_argument(
        "folders",
        metavar="FOLDER",
        nargs="*",
        help=f"run folders, or folders holding runs (default: {DEFAULT_RUNS_ROOT}/)",
    )
    ps.add_argument("--json", action="store_true", help="print the list as JSON")
    report_help = "re-render the results of an earlier run (no TensorFlow)"
    report = commands.add_parser(
        "report",
        help=report_help,
        description=f"{_sentence(report_help)[:-1]}: as coloured tables on a terminal, or as "
        "HTML, SVG, Markdown, plain text or JSON.",
    )
    report.add_argument(
        "results", metavar="RESULTS.json", help="a results file, or a run or report folder that holds one"
    )
    report.add_argument(
        "--format",
        choices=REPORT_FORMATS,
        help="html, svg, md, txt or json (default: from the extension of -o, else txt); "
        "a --format that contradicts the extension of -o is an error",
    )
    report.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="write here instead of standard output; .html .svg .md .txt or .json choose the format",
    )
    inspect_help = (
        "list the tensors (shape, type, quantization, zeros, unique values, bytes) and operators of "
        "any .tflite file (no TensorFlow)"
    )
    inspect = commands.add_parser(
        "inspect",
        help=inspect_help,
        description=_sentence(inspect_help),
    )
    inspect.add_argument("file", metavar="FILE.tflite", help="the .tflite model to read")
    inspect.add_argument(
        "--json",
        action="store_true",
        help='print {"tensors": [...], "operators": {name: count}} as JSON instead of tables',
    )
    config_help = "print the effective config (defaults < config file < flags) as TOML"
    commands.add_parser(
        "config",
        parents=[common],
        help=config_help,
        description=f"{_sentence(config_help)[:-1]}; pass it back with --config FILE.",
    )
    return parser


# The named flags and the config key each one sets.
FLAG_KEYS: dict[str, str] = {
    "data": "data",
    "seed": "seed",
    "image_size": "image_size",
    "color_mode": "color_mode",
    "test_split": "test_split",
    "strategy": "strategy",
    "epochs": "baseline.epochs",
    "prune_epochs": "prune.epochs",
    "sparsity": "prune.sparsity",
}


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    """The effective config, or SystemExit(2) with a one-line message for any invalid value.

    Defaults < the config file (`--config FILE`, else ./pqat-tui.toml) < `--set KEY=VALUE` < named flags.
    A run being resumed starts from its own config instead of the defaults and ./pqat-tui.toml.
    """
    try:
        return _effective_config(args)
    except (ConfigError, RunStoreError) as error:
        _usage_error(str(error))


def run_dir_from_args(args: argparse.Namespace) -> Path | None:
    """The run folder named by `--resume [DIR]` (default: the latest run) or `--run-dir DIR`, or None.

    None means a new folder, `runs/<time>/`. RunStoreError when `--resume` finds no run.
    """
    resume = getattr(args, "resume", None)
    run_dir = getattr(args, "run_dir", None)
    if resume is not None:
        if run_dir and resume and Path(run_dir) != Path(resume):
            raise RunStoreError(f"--run-dir {run_dir} and --resume {resume} name two run folders: give one")
        return resolve_resume_dir(resume or run_dir or None, DEFAULT_RUNS_ROOT, warn=_warning)
    return Path(run_dir) if run_dir else None


def _effective_config(args: argparse.Namespace) -> PipelineConfig:
    config_path = _config_path(args)
    config = read_config_file(config_path) if config_path else PipelineConfig()
    for assignment in getattr(args, "settings", None) or ():
        key, equals, text = assignment.partition("=")
        key = key.strip()
        if not equals:
            raise ConfigError(f"--set {assignment!r}: must be KEY=VALUE, e.g. prune.sparsity=0.8")
        if key not in setting_keys(config):
            raise unknown_key_error(key, setting_keys(config), source="--set")
        config = with_setting(config, key, parse_setting(key, text, shown=f"--set {assignment}"))
    for dest, key in FLAG_KEYS.items():
        value = getattr(args, dest, None)
        if value is not None:
            flag = "--" + dest.replace("_", "-")
            config = with_setting(config, key, check_setting(key, value, label=flag))
    recipe = getattr(args, "recipe", None)
    if recipe is not None:
        from engine.recipe import with_recipe

        config = with_recipe(config, recipe)
    return config


def _warning(message: str) -> None:
    print(f"pqat-tui: warning: {message}", file=sys.stderr)


def _usage_error(message: str) -> NoReturn:
    print(f"pqat-tui: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "report":
        from pqat_tui.report_command import report_command

        return report_command(args)
    if args.command == "inspect":
        from pqat_tui.inspect_command import inspect_command

        return inspect_command(args)
    if args.command == "ps":
        from pqat_tui.ps_command import ps_command

        return ps_command(args)
    if args.command == "attach":
        return _attach(args)
    try:
        # Resolved once: `--resume` alone names the latest run, and says which folders it passed over.
        run_dir = run_dir_from_args(args)
    except RunStoreError as error:
        _usage_error(str(error))
    args.run_dir, args.resume = (str(run_dir) if run_dir is not None else None), None
    config = config_from_args(args)
    if args.command == "config":
        print(config_to_toml(config, header=_config_header(args)), end="")
        return 0
    data_fault = _data_fault(config)  # a FIFO, /dev/zero or data that cannot load: before any work
    if data_fault:
        print(f"pqat-tui: error: {data_fault}", file=sys.stderr)
        return EXIT_USAGE
    try:
        # run_dir None: a new folder under runs/, created only once every check has passed (a refused
        # command leaves no run folder behind).
        if getattr(args, "model", None):
            args.model = str(check_model_file(args.model))  # a non-model file stops here, before any work
        elif getattr(args, "no_train", False) and (run_dir is None or saved_model_choice(run_dir) is None):
            raise UserModelError("--no-train needs --model: the example's model has to be trained")
    except (RunStoreError, UserModelError) as error:
        _usage_error(str(error))
    if args.command == "run" and args.detach:
        from pqat_tui.background import run_detached

        return run_detached(config, args)
    if args.command == "run":
        from pqat_tui.headless import run_command

        return run_command(config, args)
    from pqat_tui.app_command import app_command

    model, no_train = getattr(args, "model", None), getattr(args, "no_train", False)
    return app_command(config, run_dir, model=model, no_train=no_train)


def _data_fault(config: PipelineConfig) -> str | None:
    """Why the data cannot load, read cheaply (headers and labels, no TensorFlow: a FIFO or /dev/zero is
    refused before anything opens it), or why multiworker cannot start; None when both are fine."""
    from engine.data import DataError, DataOptions, describe_source

    try:
        describe_source(config.data, DataOptions.from_config(config))
    except DataError as error:
        return str(error)
    if config.strategy == "multiworker" and not os.environ.get("TF_CONFIG"):
        return "strategy multiworker needs TF_CONFIG: the cluster's workers and this one's task (see README)"
    return None


def _attach(args: argparse.Namespace) -> int:
    """`pqat-tui attach [RUN]`: the app on the run's live engine process, or on the run reopened."""
    from engine.live import latest_live_run

    try:
        if args.run:
            run_dir = Path(args.run)
            if not run_dir.is_dir() or not any((run_dir / name).is_file() for name in ATTACHABLE):
                raise RunStoreError(f"{run_dir}: not a pqat-tui run folder (no {MANIFEST_FILE})")
        else:
            run_dir = latest_live_run(DEFAULT_RUNS_ROOT) or resolve_resume_dir(None, DEFAULT_RUNS_ROOT)
        config_file = run_dir / CONFIG_FILE
        config = read_config_file(config_file) if config_file.is_file() else PipelineConfig()
    except (ConfigError, RunStoreError) as error:
        _usage_error(str(error))
    from pqat_tui.app_command import app_command

    return app_command(config, run_dir, attach=True)


def _config_path(args: argparse.Namespace) -> Path | None:
    """`--config FILE`; else the config of the run being resumed; else ./pqat-tui.toml when there is one."""
    explicit = getattr(args, "config", None)
    if explicit is None and args.command != "report":
        run_dir = run_dir_from_args(args)
        if run_dir is not None and (run_dir / CONFIG_FILE).is_file():
            return RunFolder(run_dir).inside(CONFIG_FILE)  # never a link out of the run folder
    return find_config_file(explicit)


def _config_header(args: argparse.Namespace) -> str:
    config_path = _config_path(args)
    source = f"defaults < {config_path}" if config_path else "defaults"
    return f"pqat-tui effective config ({source} < command-line flags)\nUse it with: pqat-tui --config FILE"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
