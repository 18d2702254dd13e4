"""Loading TensorFlow once, quietly, and keeping its native logging off the terminal.

TensorFlow's C++ runtime logs straight to file descriptor 2, below Python's `sys.stderr`: a Textual screen
or a rich progress display would be garbled by it. `redirect_native_stderr` points descriptor 2 at a file
for as long as the pipeline runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

_lock = threading.Lock()
_versions: dict[str, str] | None = None


def configure_environment() -> None:
    """The variables TensorFlow reads at import: legacy Keras (tfmot needs tf_keras) and quiet C++ logs."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_tensorflow() -> dict[str, str]:
    """Import TensorFlow, tf_keras, tfmot and LiteRT (once; later calls are free); return their versions."""
    global _versions
    with _lock:
        if _versions is not None:
            return dict(_versions)
        configure_environment()
        with warnings.catch_warnings():
            # tfmot and LiteRT import deprecated modules; the warnings say nothing a user can act on.
            warnings.simplefilter("ignore")
            import ai_edge_litert
            import tensorflow as tf
            import tensorflow_model_optimization as tfmot
            import tf_keras

        for name in ("absl", "tensorflow", "h5py"):
            logging.getLogger(name).setLevel(logging.ERROR)
        tf.get_logger().setLevel(logging.ERROR)
        tf.autograph.set_verbosity(0)
        _versions = {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "tf_keras": tf_keras.__version__,
            "tfmot": tfmot.__version__,
            "litert": _litert_version(ai_edge_litert),
            "platform": f"{platform.system()} {platform.machine()}",
        }
        return dict(_versions)


_DISTRIBUTIONS = {
    "tensorflow": "tensorflow",
    "tf_keras": "tf-keras",
    "tfmot": "tensorflow-model-optimization",
    "litert": "ai-edge-litert",
}


def installed_versions() -> dict[str, str]:
    """The same keys as load_tensorflow's, read from package metadata: cheap, imports nothing."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    versions = {"python": platform.python_version()}
    for key, distribution in _DISTRIBUTIONS.items():
        try:
            versions[key] = dist_version(distribution)
        except PackageNotFoundError:
            versions[key] = "not installed"
    versions["platform"] = f"{platform.system()} {platform.machine()}"
    return versions


def is_loaded() -> bool:
    return _versions is not None


def _litert_version(module: object) -> str:
    version = getattr(module, "__version__", None)
    if version:
        return str(version)
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("ai-edge-litert")
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def redirect_native_stderr(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Send everything written to file descriptor 2 (TensorFlow's C++ logs included) to `path`.

    Python's `sys.stderr` is flushed first and keeps pointing at descriptor 2, so Python warnings land in the
    same file; the original descriptor is restored on exit, even after an exception.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(target, "ab", buffering=0) as log_file:
            os.dup2(log_file.fileno(), 2)
            try:
                yield target
            finally:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)
