"""A user's own Keras model (`--model PATH`) in place of the example's baseline.

Three checks, each ending in one line a person can act on:

1. `check_model_file` (no TensorFlow, before any work): the path is a .keras archive or an HDF5 file.
2. `load_user_model`: it loads with Keras's safe mode (no Python code from the file), has one input shaped
   like the data's images and one output with a logit per class.
3. It also asks tfmot, on throwaway copies, what it can prune, quantize (QAT) and prune-preserve quantize
   (PQAT), layer by layer (engine.layer_support): the support table. A layer tfmot cannot handle is left
   dense or float by the stages, and named; only a model tfmot refuses whole fails the stages that need it.

Only `check_model_file` may be called before TensorFlow is loaded; the rest imports it.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from engine.results import LayerSupport
from engine.stages import Stage

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class UserModelError(Exception):
    """A model file that cannot stand in for the baseline; the message is one line naming the file."""


@dataclass(frozen=True, eq=False)
class UserModel:
    path: Path
    sha256: str
    model: Any  # the loaded keras.Model, never trained in place (every stage trains a copy)
    # PRUNE, QAT and PQAT: why tfmot refuses the whole model; absent when it can wrap some of its layers.
    unsupported: dict[Stage, str] = field(default_factory=dict)
    layer_support: tuple[LayerSupport, ...] = ()  # tfmot's verdict on each layer, for the support table

    def fingerprint_inputs(self, train: bool) -> dict[str, Any]:
        """What the baseline stage's fingerprint covers besides its config section."""
        return {"model_sha256": self.sha256, "train": train}


def check_model_file(path: str | Path) -> Path:
    """The path, when it can be a Keras model file; UserModelError otherwise. Reads a few bytes only."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UserModelError(f"{path}: no such model file")
    if path.is_dir():
        raise UserModelError(f"{path}: is a folder; expected a .keras or .h5 model file")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise UserModelError(f"{path}: expected a .keras or .h5 Keras model file")
    if not path.is_file():  # a FIFO would block the read below, a device never end
        raise UserModelError(f"{path}: not a regular file; expected a .keras or .h5 model file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if path.suffix.lower() == ".keras":
                _check_keras_archive(path, handle)
    except OSError as error:
        raise UserModelError(f"{path}: cannot read ({error.strerror or error})") from None
    if path.suffix.lower() != ".keras" and head != HDF5_SIGNATURE:
        raise UserModelError(f"{path}: not a Keras model (not an HDF5 file)")
    return path


def _check_keras_archive(path: Path, handle: BinaryIO) -> None:
    """A .keras file is a zip archive holding config.json: its central directory is read, nothing more."""
    not_zip = f"{path}: not a Keras model (a .keras file is a zip archive; this is not)"
    if not zipfile.is_zipfile(handle):
        raise UserModelError(not_zip)
    try:
        with zipfile.ZipFile(handle) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
        raise UserModelError(f"{path}: not a Keras model (a damaged zip archive: {_reason(error)})") from None
    if "config.json" not in names:
        raise UserModelError(f"{path}: not a Keras model (the archive has no config.json)")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_user_model(path: str | Path, image_shape: tuple[int, ...], classes: int) -> UserModel:
    """Load, check against the data (`image_shape` of one image, number of `classes`) and probe tfmot."""
    checked = check_model_file(path)
    from engine.artifacts import load_model

    try:
        model = load_model(checked)
    except Exception as error:  # noqa: BLE001 - whatever Keras says, the file is not a usable model
        if "Lambda layer" in str(error):
            raise UserModelError(
                f"{checked}: refused by Keras's safe mode: it holds a Lambda layer with Python code, which "
                "could run anything; rebuild the model with built-in layers"
            ) from None
        raise UserModelError(f"{checked}: not a usable Keras model ({_reason(error)})") from None
    check_against_data(model, checked, image_shape, classes)
    layers, unsupported = inspect_with_tfmot(model)
    return UserModel(checked, file_sha256(checked), model, unsupported, layers)


def check_against_data(model: Any, path: Path, image_shape: tuple[int, ...], classes: int) -> None:
    import tf_keras as keras

    if not isinstance(model, keras.Model):
        raise UserModelError(f"{path}: holds a {type(model).__name__}, not a Keras model")
    try:
        inputs, outputs = model.input_shape, model.output_shape
    except (AttributeError, RuntimeError, ValueError):
        raise UserModelError(
            f"{path}: the model has no defined input shape (build it on an Input of shape {image_shape})"
        ) from None
    if isinstance(inputs, list) or isinstance(outputs, list):
        raise UserModelError(f"{path}: the model has several inputs or outputs; expected one of each")
    from engine.data import feed_shape

    if len(image_shape) == 2:  # (H, W): grey images
        image_shape = (*image_shape, 1)
    if feed_shape(tuple(inputs[1:]), tuple(image_shape)) is None:
        raise UserModelError(
            f"{path}: the model's input is {_shape(inputs)} but the data's images are {_shape(image_shape)}"
        )
    if tuple(outputs[1:]) != (classes,):
        raise UserModelError(
            f"{path}: the model's output is {_shape(outputs)} but the data has {classes} classes; "
            f"expected one logit per class, (None, {classes})"
        )


def inspect_with_tfmot(model: Any) -> tuple[tuple[LayerSupport, ...], dict[Stage, str]]:
    """tfmot's verdict on each layer (engine.layer_support), and the stages it refuses for the whole model.

    A layer tfmot cannot prune or quantize no longer fails a stage: the stage leaves it dense or float and
    names it. Only a model tfmot refuses whole (a subclassed model, nothing it can prune) fails one.
    """
    from engine.layer_support import inspect_model

    report = inspect_model(model)
    return report.layers, report.unsupported


def _shape(shape: Any) -> str:
    return (
        "(" + ", ".join("None" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")
    )


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def load_model_choice(
    model_path: str | None, no_train: bool, run_dir: Path | None = None, config: Any = None
) -> tuple[UserModel | None, bool]:
    """The user's model (loaded and checked) and whether the baseline trains it, from `--model` and
    `--no-train`, or, when resuming a run that had one, from the run's manifest.

    Loads TensorFlow when there is a model. UserModelError for a model that cannot be used, and for
    `--no-train` without a model (the example's model must be trained).
    """
    train = not no_train
    if model_path is None and run_dir is not None:
        saved = saved_model_choice(run_dir)
        if saved is not None:
            model_path = saved["path"]
            train = train and bool(saved.get("train", True))
    if model_path is None:
        if no_train:
            raise UserModelError("--no-train needs --model: the example's model has to be trained")
        return None, True
    from engine.data import EXAMPLE_SHAPE, NUM_CLASSES, DataOptions, describe_source
    from engine.tf_runtime import load_tensorflow

    # The data's image shape and class count, read cheaply (DataError for data that cannot load).
    image_shape, classes = (
        describe_source(config.data, DataOptions.from_config(config))
        if config is not None
        else (EXAMPLE_SHAPE, NUM_CLASSES)
    )
    load_tensorflow()
    return load_user_model(model_path, image_shape, classes), train


def saved_model_choice(run_dir: Path) -> dict[str, Any] | None:
    """The model a run was started with, from its manifest: `path` (the run folder's own copy of it, the
    only file read on resume), `train`; None if the run had none. RunStoreError for a damaged manifest."""
    from engine.run_store import RunFolder, RunStoreError

    folder = RunFolder(Path(run_dir))
    manifest = folder.read_manifest()
    saved = manifest.inputs.get("model") if manifest is not None else None
    if not saved:
        return None
    if "file" not in saved:
        raise RunStoreError(
            f"{folder.file('manifest.json')}: the run used the model {saved['path']} but keeps no copy "
            "of it; resume it with --model PATH"
        )
    return {**saved, "path": str(folder.inside(saved["file"]))}
