"""A user's MobileNetV2 (32x32 RGB, alpha 0.35, softmax output), saved as .keras, through every stage of
`pqat-tui run` on a few hundred coloured digits, one epoch a stage (slow: minutes on two cores).

Run with `-s` to see the per-stage seconds it prints for the record.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from model_fixtures import digits, keras

from engine.results import RunResults
from pqat_tui.cli import main

pytestmark = [pytest.mark.real_engine, pytest.mark.slow]


@pytest.fixture(scope="module")
def mobilenet_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict, object]:
    folder = tmp_path_factory.mktemp("mobilenet")
    k = keras()
    model = k.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10)
    model_path = folder / "M.keras"
    model.save(model_path)  # as the user would
    data = digits(train=400, test=200, rgb_side=32)
    npz = folder / "digits32.npz"
    np.savez(
        npz, x_train=data.train.images, y_train=data.y_train, x_test=data.test.images, y_test=data.y_test
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(
            [
                "run",
                *("--data", str(npz), "--model", str(model_path)),
                *("--epochs", "1", "--prune-epochs", "1"),
                *("--set", "prune.frequency=5", "--set", "ptq.representative_images=100"),
                *("--run-dir", str(folder / "run"), "--json", str(folder / "results.json")),
            ]
        )
    (folder / "run.out").write_text(out.getvalue())
    print(f"\n`pqat-tui run` output: {folder / 'run.out'}")
    return status, out.getvalue(), json.loads((folder / "results.json").read_text()), model


def test_every_stage_runs_and_the_support_table_lists_every_layer(mobilenet_run) -> None:
    status, out, raw, model = mobilenet_run
    assert status == 0, out
    assert raw["failures"] == {} and set(raw["stage_seconds"]) == {
        "data", "baseline", "prune", "qat", "pqat", "convert", "evaluate", "ptq",
    }  # fmt: skip
    layers = [layer.name for layer in model.layers[1:]]  # the input layer is no layer of the table
    assert [layer["name"] for layer in raw["layer_support"]] == layers
    support = {layer["name"]: layer for layer in raw["layer_support"]}
    assert support["block_1_depthwise"]["prunable"] is False
    assert "never prunes its depthwise_kernel" in support["block_1_depthwise"]["prune_note"]
    assert support["block_1_expand_BN"]["quantize_note"] == "folded into 'block_1_expand'"
    assert support["predictions"]["quantize_note"] == "int8 kernel; PQAT keeps its zeros"
    # The table comes before any training, and a model this size gets the summary and the odd layers.
    assert out.index("155 layers") < out.index("✓ Baseline")
    assert "Layers tfmot leaves dense or float" in out
    print("\nMobileNetV2 stage seconds:", raw["stage_seconds"])


def test_params_and_the_layers_left_dense(mobilenet_run) -> None:
    _, _, raw, model = mobilenet_run
    for name in ("baseline", "pruned", "qat", "pqat"):
        assert raw["models"][name]["params"] == model.count_params() == 423_018
    depthwise = [layer.name for layer in model.layers if type(layer).__name__ == "DepthwiseConv2D"]
    assert len(depthwise) == 17
    for name in ("pruned", "qat", "pqat", "ptq"):
        assert raw["models"][name]["layers_left_dense"] == depthwise
        assert raw["models"][name]["layers_left_float"] == []


def test_pqat_keeps_the_pruned_layers_sparsity_inside_the_tflite(mobilenet_run) -> None:
    _, _, raw, _ = mobilenet_run
    results = RunResults.from_json(raw)
    pruned = results.models["pruned"].kernel_sparsity()
    assert len(pruned) == 36 and min(w.fraction for w in pruned) >= 0.49  # 35 Conv2D and the classifier
    pqat = results.models["pqat"]
    tensors = pqat.tflite.weight_sparsity
    assert len(tensors) == 53 and not any("#" in w.name for w in tensors)  # each named after its layer
    inside = pqat.pruned_tflite_weights()
    assert len(inside) == 36
    kept = sum(w.zeros for w in inside) / sum(w.total for w in inside)
    assert kept >= 0.49, kept
    print(f"\nMobileNetV2 PQAT .tflite: {kept:.1%} zeros in the pruned kernels")
    accuracies = {
        name: (m.keras_accuracy, m.tflite.accuracy if m.tflite else None)
        for name, m in results.models.items()
    }
    print("MobileNetV2 accuracies (Keras, TFLite):", accuracies)
