"""The `pqat-tui` command line: the app by default, `run` headless, `report` to re-render a results file.

Each command's work lives in its own module, imported only when that command runs, so that `--help` and
`report` never pay for TensorFlow.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from engine.config import PipelineConfig

EXIT_USAGE = 2


def _pipeline_options() -> argparse.ArgumentParser:
    """Options shared by the app and `run`: every default comes from PipelineConfig."""
    defaults = PipelineConfig()
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("pipeline")
    group.add_argument(
        "--data",
        metavar="SOURCE",
        help="mnist, fashion_mnist, sample, a .npz file or a folder of MNIST IDX files "
        f"(default: {defaults.data})",
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
    return parser


def build_parser() -> argparse.ArgumentParser:
    common = _pipeline_options()
    parser = argparse.ArgumentParser(
        prog="pqat-tui",
        parents=[common],
        description="Walk a Keras model through pruning, QAT, pruning-preserving QAT and TFLite conversion.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run", parents=[common], help="run every stage headless, with progress bars, and print the tables"
    )
    run.add_argument("--json", metavar="PATH", help="write the results as JSON (schema 1)")
    run.add_argument("--report", metavar="DIR", help="export a report (all formats) into DIR")
    report = commands.add_parser("report", help="re-render the results of an earlier run (no TensorFlow)")
    report.add_argument("results", metavar="RESULTS.json")
    report.add_argument("--format", choices=["html", "svg", "md", "txt", "json"], default="txt")
    report.add_argument("-o", "--output", metavar="PATH", help="write here instead of standard output")
    return parser


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    """The effective config, or SystemExit(2) with a one-line message for a value out of range."""
    if args.epochs is not None and args.epochs < 1:
        _usage_error(f"--epochs {args.epochs}: must be at least 1")
    if args.prune_epochs is not None and args.prune_epochs < 1:
        _usage_error(f"--prune-epochs {args.prune_epochs}: must be at least 1")
    if args.sparsity is not None and not 0.0 <= args.sparsity < 1.0:
        _usage_error(f"--sparsity {args.sparsity}: must be in [0, 1)")
    return PipelineConfig().with_overrides(
        data=args.data,
        seed=args.seed,
        epochs=args.epochs,
        prune_epochs=args.prune_epochs,
        sparsity=args.sparsity,
    )


def _usage_error(message: str) -> None:
    print(f"pqat-tui: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "report":
        from pqat_tui.report_command import report_command

        return report_command(args)
    config = config_from_args(args)
    if args.command == "run":
        from pqat_tui.headless import run_command

        return run_command(config, args)
    from pqat_tui.app_command import app_command

    return app_command(config)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
