"""tfmot's verdict per layer, and pruning and quantization of the layers it can handle (the others named).

Tiny models and a few hundred images: each test takes seconds. MobileNetV2 end to end is in
test_mobilenet_real.py (slow).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from model_fixtures import digits, keras, mixed_model

from engine.config import PruneConfig, TrainConfig
from engine.events import EngineEvent, LogMessage
from engine.stages import Stage

pytestmark = pytest.mark.real_engine

PRUNE = PruneConfig(epochs=1, sparsity=0.5, frequency=1)
QUANTIZE = TrainConfig(epochs=1, batch_size=64)


def _support(model: object) -> dict[str, object]:
    from engine.layer_support import inspect_model

    report = inspect_model(model)
    return {layer.name: layer for layer in report.layers} | {"_unsupported": report.unsupported}


def test_the_support_table_gives_tfmots_verdict_on_every_layer() -> None:
    support = _support(mixed_model())
    assert support.pop("_unsupported") == {}  # no stage is refused: the layers tfmot lacks are worked around
    assert list(support) == [
        "reshape", "conv", "bn", "relu", "depthwise", "prelu", "pool", "flatten", "classifier",
    ]  # fmt: skip
    conv, bn, depthwise, prelu = (support[n] for n in ("conv", "bn", "depthwise", "prelu"))
    assert (conv.type, conv.params, conv.prunable, conv.quantizable) == ("Conv2D", 80, True, True)
    assert conv.prune_note == "prunes kernel"
    assert conv.quantize_note == "int8 kernel; PQAT keeps its zeros"
    # tfmot wraps DepthwiseConv2D for pruning but its registry lists no weight of it to prune.
    assert not depthwise.prunable and depthwise.quantizable
    assert (
        depthwise.prune_note
        == "left dense: tfmot wraps DepthwiseConv2D but never prunes its depthwise_kernel"
    )
    # BatchNormalization is not in the 8-bit registry: the conv + batch-norm layout transform quantizes it.
    assert bn.quantizable and bn.quantize_note == "folded into 'conv'"
    assert not bn.prunable and "prunes none of BatchNormalization's weights" in bn.prune_note
    assert not prelu.prunable and not prelu.quantizable
    assert prelu.prune_note.startswith("left dense: tfmot cannot prune PReLU (not in its pruning registry")
    assert prelu.quantize_note == "left float: tfmot's default 8-bit scheme has no QuantizeConfig for PReLU"
    assert support["pool"].prune_note == "no weights"


def test_a_rescaling_input_layer_does_not_stop_pqat() -> None:
    """tfmot's own PQAT scheme raises for a model starting with Rescaling; ours leaves the layer float."""
    k = keras()
    model = k.Sequential(
        [
            k.layers.InputLayer((28, 28, 1)),
            k.layers.Rescaling(1 / 255, name="scale"),
            k.layers.Conv2D(4, 3, name="conv"),
            k.layers.Flatten(name="flatten"),
            k.layers.Dense(10, name="dense"),
        ]
    )
    support = _support(model)
    assert support.pop("_unsupported") == {}
    assert not support["scale"].quantizable and not support["scale"].prunable
    assert support["scale"].prune_note.startswith("not wrapped: tfmot cannot prune Rescaling")
    assert support["dense"].quantize_note == "int8 kernel; PQAT keeps its zeros"


def test_a_layer_tfmot_cannot_prune_leaves_every_other_layer_pruned() -> None:
    """Prune, then PQAT, then the .tflite: the pruned layers keep their zeros throughout; the others are
    named as left dense (and float)."""
    from engine.conversion import convert_keras, describe
    from engine.training import pqat_stage, prune_stage, seed_everything

    seed_everything(0)
    data = digits()
    events: list[EngineEvent] = []
    pruned = prune_stage(mixed_model(), data, PRUNE, events.append, threading.Event())
    assert pruned.result.layers_left_dense == ("depthwise", "prelu")
    warnings = [e.text for e in events if isinstance(e, LogMessage) and e.level == "warning"]
    assert warnings == [
        "Left dense (tfmot does not prune them): 2 layers (1 DepthwiseConv2D, 1 PReLU): depthwise, prelu"
    ]
    kernels = {w.name: w.fraction for w in pruned.result.kernel_sparsity()}
    assert kernels == {"conv/kernel": pytest.approx(0.5, abs=0.01), "classifier/kernel": pytest.approx(0.5)}
    assert pruned.result.params == pruned.model.count_params() == 11_730  # a stripped model: no masks left

    events.clear()
    pqat = pqat_stage(pruned.model, data, QUANTIZE, events.append, threading.Event(), ("depthwise", "prelu"))
    assert pqat.result.layers_left_float == ("prelu",)
    assert pqat.result.layers_left_dense == ("depthwise", "prelu")
    assert pqat.result.params == 11_730  # the quantizers' ranges are not parameters of the model
    assert {w.name: w.fraction for w in pqat.result.kernel_sparsity()} == kernels | {
        "conv/kernel": pytest.approx(0.5, abs=0.01)
    }
    assert any("Left float" in e.text and "prelu" in e.text for e in events if isinstance(e, LogMessage))

    info = describe(convert_keras(pqat.model), "pqat", pqat.model)
    inside = {w.name.split(" ")[0]: w for w in info.weight_sparsity}
    assert set(inside) == {"conv/kernel", "depthwise/depthwise_kernel", "classifier/kernel"}
    for name in ("conv/kernel", "classifier/kernel"):
        assert inside[name].fraction >= 0.49, inside[name]  # the zeros survive into the .tflite file
    assert inside["depthwise/depthwise_kernel"].fraction < 0.1


def test_a_softmax_output_is_trained_on_probabilities() -> None:
    """A model ending in softmax (keras.applications' default) is trained as it is, not as logits."""
    from engine.training import baseline_stage, outputs_logits, qat_stage, seed_everything

    seed_everything(0)
    model = mixed_model(softmax=True)
    assert not outputs_logits(model) and outputs_logits(mixed_model())
    data = digits(train=1200)
    baseline = baseline_stage(data, TrainConfig(epochs=2), lambda event: None, threading.Event(), model)
    assert baseline.result.keras_accuracy > 0.5  # on logits, cross-entropy of a softmax would barely learn
    assert not outputs_logits(baseline.model)
    quantized = qat_stage(baseline.model, data, QUANTIZE, lambda event: None, threading.Event())
    probabilities = quantized.model.predict(data.x_test[:8], verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.02)


def test_a_model_tfmot_can_prune_nothing_of_refuses_the_prune_stage() -> None:
    from engine.layer_support import inspect_model

    k = keras()
    report = inspect_model(
        k.Sequential([k.layers.InputLayer((28, 28)), k.layers.Flatten(), k.layers.PReLU(name="prelu")])
    )
    assert report.unsupported[Stage.PRUNE] == (
        "tfmot cannot prune this model: tfmot has no weights of this model to prune; it refuses 'prelu'"
    )
