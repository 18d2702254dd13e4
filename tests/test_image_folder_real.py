"""Folders of images through the real engine: decoding, conversion, caching or streaming, bad files, and a
32x32 RGB class-folder dataset (made from the bundled digits) through every stage, headless and in the app."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from image_folders import CLASS_NAMES, write_image_folder

from engine.data import CACHE_LIMIT_VARIABLE, DataError, DataOptions, load_dataset
from pqat_tui.cli import main

pytestmark = pytest.mark.real_engine

# One epoch everywhere, masks updated every 2 steps (240 training images make 7 steps an epoch).
TINY_RUN = [
    "--epochs", "1", "--prune-epochs", "1",
    "--set", "prune.frequency=2", "--set", "ptq.representative_images=50",
]  # fmt: skip
# A 1x1 GIF (one white pixel): TensorFlow decodes GIFs but cannot write them.
TINY_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.tf_runtime import load_tensorflow

    load_tensorflow()
    return write_image_folder(tmp_path_factory.mktemp("digits") / "digits", count=60)


def test_a_folder_loads_stratified_and_cached_or_streamed_gives_the_same_batches(
    small_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.input_pipeline import test_batches, training_batches

    cached = load_dataset(str(small_folder))
    assert cached.image_shape == (32, 32, 3) and cached.class_names == tuple(
        sorted(p.name for p in small_folder.iterdir())
    )
    assert cached.info.classes == cached.class_names and cached.info.image_shape == (32, 32, 3)
    assert len(cached.train) + len(cached.test) == 60 and len(cached.test) == sum(
        round(n * 0.2) for n in np.bincount(np.concatenate([cached.y_train, cached.y_test]))
    )
    assert cached.train.images is not None and cached.info.preview_shape == (16, 16, 3)
    monkeypatch.setenv(CACHE_LIMIT_VARIABLE, "0")
    streamed = load_dataset(str(small_folder))
    assert streamed.train.images is None and streamed.train.files == cached.train.files
    np.testing.assert_array_equal(streamed.x_test, cached.x_test)
    for data in (cached, streamed):
        assert float(data.x_train.max()) <= 1.0 and data.x_train.dtype == np.float32
    pairs = [training_batches(data, 16, 0.1, (32, 32, 3), "baseline") for data in (cached, streamed)]
    for one, other in zip(pairs[0][0], pairs[1][0], strict=True):  # the same shuffled order, the same pixels
        np.testing.assert_array_equal(one[0].numpy(), other[0].numpy())
        np.testing.assert_array_equal(one[1].numpy(), other[1].numpy())
    batches = list(test_batches(streamed, (32, 32, 3)))
    assert sum(len(labels) for _, labels in batches) == len(streamed.test)


def test_a_corrupt_image_is_named_never_skipped(
    tmp_path: Path, small_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    folder = tmp_path / "digits"
    shutil.copytree(small_folder, folder)
    victim = sorted((folder / "seven").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:60])  # the header survives, the pixels do not
    with pytest.raises(DataError, match=f"{victim}: not a readable image"):
        load_dataset(str(folder))
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", "--data", str(folder), "--run-dir", str(tmp_path / "run")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"pqat-tui: error: {victim}: not a readable image")


def test_mixed_formats_and_sizes_with_image_size_and_grayscale(tmp_path: Path) -> None:
    import tensorflow as tf
    from image_folders import coloured_digits

    images, labels = coloured_digits(12, side=40)
    root = tmp_path / "mixed"
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / ("odd" if label % 2 else "even")
        folder.mkdir(parents=True, exist_ok=True)
        if index % 3 == 0:
            (folder / f"{index}.jpg").write_bytes(tf.io.encode_jpeg(image).numpy())
        elif index % 3 == 1:
            (folder / f"{index}.png").write_bytes(tf.io.encode_png(image[4:, :30]).numpy())  # 36x30
        else:
            (folder / f"{index}.bmp").write_bytes(_bmp(image))
    (root / "odd" / "tiny.gif").write_bytes(TINY_GIF)
    with pytest.raises(DataError, match="images differ in size"):
        load_dataset(str(root))
    data = load_dataset(str(root), DataOptions(image_size=(24, 20), color_mode="grayscale", test_split=0.25))
    assert data.image_shape == (24, 20, 1) and data.class_names == ("even", "odd")
    assert len(data.train) + len(data.test) == 13
    assert data.x_train.shape[1:] == (24, 20) and 0.0 <= data.x_train.min() <= data.x_train.max() <= 1.0
    rgb = load_dataset(str(root), DataOptions(image_size=(8, 8), color_mode="rgb"))
    assert rgb.image_shape == (8, 8, 3)


def _bmp(image: np.ndarray) -> bytes:
    """A 24-bit bottom-up BMP of an RGB image (rows padded to 4 bytes, stored BGR)."""
    height, width, _ = image.shape
    row = width * 3 + (-width * 3) % 4
    pixels = b"".join(
        image[y, :, ::-1].tobytes() + b"\0" * (row - width * 3) for y in range(height - 1, -1, -1)
    )
    header = b"BM" + (54 + len(pixels)).to_bytes(4, "little") + b"\0\0\0\0" + (54).to_bytes(4, "little")
    info = (40).to_bytes(4, "little") + width.to_bytes(4, "little") + height.to_bytes(4, "little")
    info += (1).to_bytes(2, "little") + (24).to_bytes(2, "little") + bytes(24)
    return header + info + pixels


def test_train_and_test_folders_are_used_as_given(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "split", count=120, classes=3, split_folders=True, grey=True)
    data = load_dataset(str(root))
    assert data.image_shape == (32, 32, 1) and data.class_names == ("one", "two", "zero")
    listed = {p.relative_to(root).parts[0] for p in root.rglob("*.png")}
    assert listed == {"train", "test"}
    assert len(data.test) == len(list((root / "test").rglob("*.png")))
    assert all("/test/" in path for path in data.test.files)


# --- every stage on a 32x32 RGB folder ------------------------------------------------------------------


@pytest.fixture(scope="module")
def rgb_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    from engine.tf_runtime import load_tensorflow

    load_tensorflow()
    base = tmp_path_factory.mktemp("rgb-run")
    folder = write_image_folder(base / "digits", count=300)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(
            [
                "run",
                "--data",
                str(folder),
                *TINY_RUN,
                "--json",
                str(base / "r.json"),
                "--run-dir",
                str(base / "run"),
            ]
        )
    assert status == 0, out.getvalue()
    return json.loads((base / "r.json").read_text()), out.getvalue(), base / "run"


@pytest.mark.slow
def test_every_stage_runs_on_a_32x32_rgb_folder_and_pqat_keeps_its_zeros(rgb_run) -> None:
    results, printed, run_dir = rgb_run
    assert set(results["stage_seconds"]) == {
        "data",
        "baseline",
        "prune",
        "qat",
        "pqat",
        "convert",
        "evaluate",
        "ptq",
    }
    assert results["failures"] == {}
    assert results["dataset"]["image_shape"] == [32, 32, 3]
    assert results["dataset"]["classes"] == sorted(CLASS_NAMES)
    assert results["dataset"]["train"] + results["dataset"]["test"] == 300
    pqat = results["models"]["pqat"]["tflite"]["weight_counts"]
    kernels = {name: counts for name, counts in pqat.items() if "kernel" in name}
    assert len(kernels) == 3  # conv2d, conv2d_1 and dense: the CNN sized to 32x32x3
    for name, (zeros, total) in kernels.items():
        assert zeros / total >= 0.49, name
    assert (run_dir / "models" / "pqat.tflite").is_file()
    assert "32×32×3 (RGB)" in printed and "seven" in printed


@pytest.mark.slow
async def test_the_app_shows_the_rgb_runs_shape_classes_and_pqat_zeros(rgb_run) -> None:
    from test_app import wait_for
    from textual.widgets import Static

    from engine.config_file import read_config_file
    from pqat_tui.app import PqatApp
    from pqat_tui.engine_loader import real_engine_factory
    from pqat_tui.steps import Step

    _, _, run_dir = rgb_run
    config = read_config_file(run_dir / "config.toml")
    app = PqatApp(config, real_engine_factory(run_dir))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.engine is not None and not app.busy, timeout=120)
        assert app.board.all_done()  # every stage kept from the run folder
        app.selected = Step.DATA
        await pilot.pause()
        table = _text(app.query_one("#dataset-table", Static))
        assert "32×32×3 (RGB)" in table and "seven:" in table
        balance = _text(app.query_one("#class-balance", Static))
        assert "three" in balance and "zero" in balance
        app.selected = Step.CONVERT
        await pilot.pause()
        detail = _text(app.query_one("#panel-convert .tflite-detail", Static))
        rows = [line for line in detail.splitlines() if "kernel" in line]
        assert len(rows) == 3 and all("50.0%" in row for row in rows), detail
    app.engine.close()  # type: ignore[union-attr]


def _text(static: object) -> str:
    """What a Static shows, as plain text (its content may be a rich Table)."""
    from rich.console import Console

    console = Console(width=120, record=True, file=io.StringIO())
    console.print(static.content)  # type: ignore[attr-defined]
    return console.export_text()


def test_a_model_is_checked_against_the_datas_shape_and_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user's model must take the data's images and give a logit per class, whatever their shape."""
    import tf_keras as keras
    from image_folders import coloured_digits

    from engine.artifacts import model_bytes

    images, labels = coloured_digits(40)
    data = tmp_path / "rgb.npz"
    np.savez(data, x_train=images[:30], y_train=labels[:30] % 3, x_test=images[30:], y_test=labels[30:] % 3)

    def saved(name: str, input_shape: tuple[int, ...], classes: int) -> str:
        model = keras.Sequential(
            [
                keras.layers.InputLayer(input_shape=input_shape),
                keras.layers.Flatten(),
                keras.layers.Dense(classes),
            ]
        )
        path = tmp_path / name
        path.write_bytes(model_bytes(model, ".keras"))
        return str(path)

    cases = [
        (saved("ten.keras", (32, 32, 3), 10), "the model's output is (None, 10) but the data has 3 classes"),
        (
            saved("grey.keras", (32, 32), 3),
            "the model's input is (None, 32, 32) but the data's images are (32, 32, 3)",
        ),
    ]
    for model, fragment in cases:
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["run", "--data", str(data), "--model", model, "--run-dir", str(tmp_path / "r")]) == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and fragment in lines[0], lines
    # --grayscale makes the same data fit the grey model's input.
    from engine.config import PipelineConfig
    from engine.user_model import load_model_choice

    config = PipelineConfig(data=str(data), color_mode="grayscale")
    user, _ = load_model_choice(cases[1][0], False, None, config)
    assert user is not None and user.model.input_shape == (None, 32, 32)
