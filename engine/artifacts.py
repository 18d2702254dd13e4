"""Keras models to bytes and back, for the run folder (and for a user's own model file).

Imported only once TensorFlow is loaded (see engine.tf_runtime). Models load with Keras's safe mode, also
for HDF5 files, where tf_keras would otherwise deserialize a Lambda layer's Python bytecode.

The QAT and PQAT models are stored as HDF5 (`.h5`): tf_keras 2.21 saves tfmot's QuantizeLayer to a `.keras`
archive but cannot load it back ("expected 5 variables, but received 3"); HDF5 round-trips them exactly, and
their converted .tflite files are byte for byte the same.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tensorflow_model_optimization as tfmot
import tf_keras as keras
from tf_keras.src.saving import saving_lib, serialization_lib

from engine.writes import writing


def model_bytes(model: keras.Model, suffix: str) -> bytes:
    """The file `model.save` writes for `suffix` (.keras or .h5), without the optimizer's state.

    Keras writes it into a temporary folder first: WriteError (engine.writes) when that fails (a full /tmp).
    """
    with writing(Path(tempfile.gettempdir()) / f"pqat-model-…/model{suffix}"):
        return _model_bytes(model, suffix)


def _model_bytes(model: keras.Model, suffix: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="pqat-model-") as folder:
        path = Path(folder) / f"model{suffix}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "HDF5 is a legacy format": chosen on purpose, see above
            if suffix == ".keras":
                # Not model.save: it picks the format from a thread-local flag that tf_keras leaves False in
                # a thread that saved once without having imported it, and then writes HDF5 into `.keras`.
                saving_lib.save_model(model, str(path))
            else:
                model.save(path, include_optimizer=False)
        return path.read_bytes()


@contextlib.contextmanager
def loading_scope() -> Iterator[None]:
    """tfmot's pruning and quantization wrappers known to Keras, and Lambda bytecode refused."""
    with (
        tfmot.quantization.keras.quantize_scope(),
        tfmot.sparsity.keras.prune_scope(),
        serialization_lib.SafeModeScope(True),
    ):
        yield


def load_model(path: Path) -> Any:
    """A Keras model from a .keras or .h5 file, uncompiled (every stage compiles the copy it trains)."""
    with loading_scope():
        return keras.models.load_model(Path(path), compile=False, safe_mode=True)
