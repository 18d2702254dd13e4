"""Results of a MobileNetV2-sized model (156 layers, 262 weights), made up without TensorFlow.

The layer names, types and sizes follow `tf_keras.applications.MobileNetV2(input_shape=(32, 32, 3),
alpha=0.35, classes=10)`; the verdicts are those tfmot gives (see test_layer_support_real.py): every
Conv2D and the Dense classifier pruned, every DepthwiseConv2D left dense, BatchNormalization folded.
"""

from __future__ import annotations

from dataclasses import replace

from engine.results import LayerSupport, ModelResult, RunResults, TFLiteInfo, WeightSparsity

BLOCKS = 17  # expanded_conv and block_1 .. block_16
CLASSIFIER = "predictions"


def _channels(block: int) -> tuple[int, int]:
    """(input, output) channels of an inverted residual block, roughly as alpha=0.35 gives them."""
    widths = [16, 8, 8, 16, 16, 16, 24, 24, 24, 24, 32, 32, 32, 56, 56, 56, 112]
    return widths[max(block - 1, 0)], widths[block]


def _layers() -> list[tuple[str, str, dict[str, int]]]:
    """(name, type, {weight: size}) for every layer, in model order."""
    layers: list[tuple[str, str, dict[str, int]]] = [("Conv1", "Conv2D", {"kernel": 432})]
    layers.append(("bn_Conv1", "BatchNormalization", _bn(16)))
    layers.append(("Conv1_relu", "ReLU", {}))
    for block in range(BLOCKS):
        prefix = "expanded_conv" if block == 0 else f"block_{block}"
        channels_in, channels_out = _channels(block)
        expanded = channels_in * (1 if block == 0 else 6)
        if block:
            layers.append((f"{prefix}_expand", "Conv2D", {"kernel": channels_in * expanded}))
            layers.append((f"{prefix}_expand_BN", "BatchNormalization", _bn(expanded)))
            layers.append((f"{prefix}_expand_relu", "ReLU", {}))
        layers.append((f"{prefix}_depthwise", "DepthwiseConv2D", {"depthwise_kernel": 9 * expanded}))
        layers.append((f"{prefix}_depthwise_BN", "BatchNormalization", _bn(expanded)))
        layers.append((f"{prefix}_depthwise_relu", "ReLU", {}))
        layers.append((f"{prefix}_project", "Conv2D", {"kernel": expanded * channels_out}))
        layers.append((f"{prefix}_project_BN", "BatchNormalization", _bn(channels_out)))
        if block and channels_in == channels_out:
            layers.append((f"{prefix}_add", "Add", {}))
    layers.append(("Conv_1", "Conv2D", {"kernel": 112 * 1280}))
    layers.append(("Conv_1_bn", "BatchNormalization", _bn(1280)))
    layers.append(("out_relu", "ReLU", {}))
    layers.append(("global_average_pooling2d", "GlobalAveragePooling2D", {}))
    layers.append((CLASSIFIER, "Dense", {"kernel": 12800, "bias": 10}))
    return layers


def _bn(channels: int) -> dict[str, int]:
    return {"gamma": channels, "beta": channels, "moving_mean": channels, "moving_variance": channels}


def _support(name: str, kind: str, weights: dict[str, int]) -> LayerSupport:
    params = sum(weights.values())
    if kind in ("Conv2D", "Dense"):
        prune = (True, "prunes kernel")
        quantize = "int8 kernel; PQAT keeps its zeros"
    elif kind == "DepthwiseConv2D":
        prune = (False, "left dense: tfmot wraps DepthwiseConv2D but never prunes its depthwise_kernel")
        quantize = "int8 depthwise_kernel"
    elif kind == "BatchNormalization":
        prune = (False, "not pruned: tfmot prunes none of BatchNormalization's weights")
        quantize = "folded into the convolution before it"
    else:
        prune = (False, "no weights")
        quantize = "int8 output"
    return LayerSupport(name, kind, params, prune[0], prune[1], True, quantize)


def _sparsity(zeros_in_kernels: float) -> tuple[WeightSparsity, ...]:
    found = []
    for name, kind, weights in _layers():
        for weight, size in weights.items():
            pruned = kind in ("Conv2D", "Dense") and weight == "kernel"
            found.append(
                WeightSparsity(f"{name}/{weight}", int(size * zeros_in_kernels) if pruned else 0, size)
            )
    return tuple(found)


def _tflite(zeros_in_kernels: float) -> tuple[WeightSparsity, ...]:
    found = []
    for name, kind, weights in _layers():
        if kind in ("Conv2D", "Dense", "DepthwiseConv2D"):
            weight, size = next(iter(weights.items()))
            zeros = int(size * zeros_in_kernels) if kind != "DepthwiseConv2D" else 1
            found.append(WeightSparsity(f"{name}/{weight} (int8)", zeros, size))
    return tuple(found)


def mobilenet_results(base: RunResults | None = None) -> RunResults:
    """Every stage's results for the MobileNetV2-sized model, on top of `base` (its config, dataset)."""
    layers = _layers()
    dense = tuple(name for name, kind, _ in layers if kind == "DepthwiseConv2D")
    params = sum(sum(weights.values()) for _, _, weights in layers)
    models = {
        "baseline": ModelResult(0.412, _sparsity(0.0), params=params),
        "pruned": ModelResult(0.398, _sparsity(0.5), params=params, layers_left_dense=dense),
        "qat": ModelResult(
            0.401,
            _sparsity(0.004),
            TFLiteInfo(639_700, 400_600, 0.402, _tflite(0.004)),
            params=params,
            layers_left_dense=dense,
        ),
        "pqat": ModelResult(
            0.405,
            _sparsity(0.5),
            TFLiteInfo(639_700, 349_300, 0.404, _tflite(0.5)),
            params=params,
            layers_left_dense=dense,
        ),
        "ptq": ModelResult(
            None, (), TFLiteInfo(633_600, 361_600, 0.396, _tflite(0.5)), layers_left_dense=dense
        ),
    }
    base = base or RunResults(config={"prune": {"sparsity": 0.5}})
    return replace(base, models=models, layer_support=tuple(_support(*layer) for layer in layers))
