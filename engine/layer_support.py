"""What tfmot can do with each layer of a model, and pruning and quantization of the layers it can.

tfmot's whole-model calls (`prune_low_magnitude(model)`, `quantize_model(model)`) refuse a model when one
layer is unsupported. The layer-by-layer routes its guides document wrap only the layers tfmot accepts:
`keras.models.clone_model(model, clone_function=...)` with `prune_low_magnitude` on each layer, and
`quantize_annotate_layer` on each layer before `quantize_apply`. The others stay dense or float, and are
named. For a model tfmot accepts whole, both routes build the very model the whole-model calls build.

Every verdict here is tfmot's own, read from a real attempt on a copy of the model: a layer is prunable
when tfmot's pruning wrapper, built on it, holds weights to prune (it wraps DepthwiseConv2D and
BatchNormalization but prunes none of their weights); it is quantizable when `quantize_apply` wraps it
(a BatchNormalization after a convolution is quantized with that convolution: tfmot's layout transforms
match the pair, and the converter folds it in).

Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import tensorflow_model_optimization as tfmot
import tf_keras as keras
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (
    prune_preserve_quantize_registry,
)
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_registry,
)
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

from engine.results import LayerSupport
from engine.stages import Stage

# quantize_apply's words for a layer its scheme has no QuantizeConfig for: "Layer dense:<class ...> is not
# supported. You can quantize this layer by passing a ..."
_UNSUPPORTED_LAYER = re.compile(r"^Layer (?P<name>.+?):<class '[^']*'> is not supported\.")
_DEFAULT_REGISTRY = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
# What makes a weight the one pruning aims at (the measure and the tables use the same rule).
KERNEL_MARKERS = ("kernel", "embeddings")


@dataclass(frozen=True, eq=False)
class LayerwisePruning:
    model: keras.Model  # every layer tfmot accepts wrapped in PruneLowMagnitude; the others as they were
    refused: dict[str, str] = field(default_factory=dict)  # layer name -> why tfmot refuses it


@dataclass(frozen=True, eq=False)
class LayerwiseQuantization:
    model: keras.Model  # quantize_apply's model: the layers tfmot quantizes wrapped, the others float
    left_float: dict[str, str] = field(default_factory=dict)  # layer name -> why tfmot cannot quantize it


@dataclass(frozen=True)
class SupportReport:
    """A model's layers, tfmot's verdict on each, and the stages tfmot refuses for the whole model."""

    layers: tuple[LayerSupport, ...]
    unsupported: dict[Stage, str] = field(default_factory=dict)


def model_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers, its input layers left out."""
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def unwrapped(layer: keras.layers.Layer) -> keras.layers.Layer:
    """The layer inside a tfmot wrapper (pruning, quantization), or the layer itself."""
    return layer.layer if isinstance(layer, keras.layers.Wrapper) else layer


def parameter_count(model: keras.Model) -> int:
    """The parameters of the model's own layers: what a pruning wrapper adds (masks, thresholds) is left
    out. Not for a quantized model, whose wrappers take the kernels over from their layers."""
    return sum(unwrapped(layer).count_params() for layer in model_layers(model))


def prune_layerwise(model: keras.Model, **prune_params: Any) -> LayerwisePruning:
    """`model` with every layer tfmot accepts wrapped for pruning. Pass a copy: the wrappers reuse its layers.

    ValueError when tfmot can wrap none of the layers, or the model cannot be cloned (a subclassed model).
    """
    refused: dict[str, str] = {}

    def wrap(layer: keras.layers.Layer) -> keras.layers.Layer:
        try:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, **prune_params)
        except ValueError as error:
            refused[layer.name] = _prune_refusal(layer, error)
            return layer

    wrapped = keras.models.clone_model(model, clone_function=wrap)
    if not pruned_weights(wrapped):
        named = ", ".join(f"'{name}'" for name in refused)
        why = f"; it refuses {named}" if refused else ""
        raise ValueError(f"tfmot has no weights of this model to prune{why}")
    return LayerwisePruning(wrapped, refused)


def pruned_weights(model: keras.Model) -> dict[str, tuple[str, ...]]:
    """Layer name -> the weights tfmot's wrapper prunes in it (`kernel`), for every wrapper with any."""
    found: dict[str, tuple[str, ...]] = {}
    for layer in model.layers:
        if isinstance(layer, PruneLowMagnitude) and layer.pruning_vars:
            found[layer.layer.name] = tuple(_short(weight.name) for weight, _, _ in layer.pruning_vars)
    return found


def layers_left_dense(pruning: LayerwisePruning) -> tuple[str, ...]:
    """The layers whose weights pruning leaves dense: refused ones with weights, and wrapped ones whose
    kernels tfmot does not prune (DepthwiseConv2D). Normalisation and bias-only weights are not counted."""
    pruned = pruned_weights(pruning.model)
    left: list[str] = []
    for layer in model_layers(pruning.model):
        inner = unwrapped(layer)
        if inner.name in pruned:
            continue
        refused_with_weights = inner.name in pruning.refused and bool(inner.weights)
        if refused_with_weights or any(is_kernel(weight.name) for weight in inner.weights):
            left.append(inner.name)
    return tuple(left)


def quantize_layerwise(
    model: keras.Model, scheme: Any, left_float: dict[str, str] | None = None
) -> LayerwiseQuantization:
    """`quantize_apply(model, scheme)` with every layer annotated that tfmot quantizes; the others float.

    The first attempt annotates every layer, as `quantize_model` does. When quantize_apply refuses one,
    the layers its registry cannot quantize once its layout transforms are applied (which give a
    BatchNormalization after a convolution its QuantizeConfig) are left out, and the attempt made again;
    any layer it still names is left out in turn, until it succeeds. `left_float`: layers known to be
    unsupported already. Pass a copy of the model: the annotations reuse its layers. ValueError or
    RuntimeError when tfmot refuses the model whole.
    """
    left = dict(left_float or {})
    guessed = False
    while True:
        annotated = keras.models.clone_model(model, clone_function=lambda layer: _annotated(layer, left))
        try:
            return LayerwiseQuantization(tfmot.quantization.keras.quantize_apply(annotated, scheme), left)
        except RuntimeError as error:
            match = _UNSUPPORTED_LAYER.match(str(error))
            if match is None or match["name"] in left:
                raise
            found = [match["name"]]
            if not guessed:  # once: the registry and the transforms name the rest in one pass
                found += _unsupported_after_transforms(model, scheme)
                guessed = True
            for name in found:
                kind = type(model.get_layer(name)).__name__
                left[name] = f"left float: {_scheme_title(scheme)} has no QuantizeConfig for {kind}"


def _unsupported_after_transforms(model: keras.Model, scheme: Any) -> list[str]:
    """The layers quantize_apply would refuse: its registry lacks them and no layout transform (such as
    tfmot's convolution + batch normalization patterns) gives them a QuantizeConfig."""
    registry = scheme.get_quantize_registry()
    names = {layer.name for layer in model_layers(model)}
    transformed, configs = scheme.get_layout_transformer().apply(
        keras.models.clone_model(model), {name: {"quantize_config": None} for name in names}
    )
    return [
        layer.name
        for layer in transformed.layers
        if layer.name in names
        and not (configs.get(layer.name) or {}).get("quantize_config")
        and not registry.supports(layer)
    ]


def _annotated(layer: keras.layers.Layer, left_float: dict[str, str]) -> keras.layers.Layer:
    if layer.name in left_float:
        return layer
    return tfmot.quantization.keras.quantize_annotate_layer(layer)


def default_scheme() -> Any:
    return tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme()


def prune_preserving_scheme() -> Any:
    """PQAT's scheme, with its registry's one gap closed (see _PrunePreservingRegistry)."""
    return _PrunePreservingScheme()


class _PrunePreservingRegistry(prune_preserve_quantize_registry.Default8bitPrunePreserveQuantizeRegistry):
    """tfmot's PQAT registry says it supports every layer without trainable weights, then asks the default
    8-bit registry for their QuantizeConfig, which raises for the ones it lacks (Rescaling, say). That
    happens for a float layer feeding a quantized one, which quantize_apply gives an output quantizer
    when the registry supports it: a model starting with Rescaling could not be PQAT-ed at all. Supporting
    only what both registries support leaves such a layer float, as the default scheme does."""

    def supports(self, layer: keras.layers.Layer) -> bool:
        return bool(super().supports(layer)) and _DEFAULT_REGISTRY.supports(layer)


class _PrunePreservingScheme(tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme):
    def get_quantize_registry(self) -> _PrunePreservingRegistry:
        return _PrunePreservingRegistry()


def _scheme_title(scheme: Any) -> str:
    if isinstance(scheme, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme):
        return "PQAT's prune-preserving 8-bit scheme"
    return "tfmot's default 8-bit scheme"


# --- The support table ------------------------------------------------------------------------------------


def inspect_model(model: keras.Model) -> SupportReport:
    """tfmot's verdict on every layer of `model` for pruning, QAT and PQAT, from real attempts on copies.

    For a MobileNetV2 this takes about ten seconds, mostly Keras rebuilding the model in quantize_apply.
    """
    with _names_left_as_they_were():
        return _inspect(model)


@contextlib.contextmanager
def _names_left_as_they_were() -> Iterator[None]:
    """Keras numbers the layers it names (`quantize_layer_3`), and those names reach the .tflite files. The
    inspection's throwaway models must not shift the numbering, or a run whose Data stage inspected the
    model would write other bytes than the same run resumed after it."""
    from tf_keras.src import backend

    uids = backend.get_default_graph_uid_map()
    saved_uids, saved_observed = dict(uids), set(backend.OBSERVED_NAMES)
    try:
        yield
    finally:
        uids.clear()
        uids.update(saved_uids)
        backend.OBSERVED_NAMES.clear()
        backend.OBSERVED_NAMES.update(saved_observed)


def _inspect(model: keras.Model) -> SupportReport:
    copy_model = keras.models.clone_model  # without the weights: the verdicts do not depend on them
    unsupported: dict[Stage, str] = {}
    pruning: LayerwisePruning | None = None
    qat: LayerwiseQuantization | None = None
    pqat: LayerwiseQuantization | None = None
    try:
        pruning = prune_layerwise(copy_model(model))
    except Exception as error:  # noqa: BLE001 - tfmot raises ValueError, RuntimeError or TypeError
        unsupported[Stage.PRUNE] = f"tfmot cannot prune this model: {_reason(error)}"
    try:
        qat = quantize_layerwise(copy_model(model), default_scheme())
    except Exception as error:  # noqa: BLE001
        unsupported[Stage.QAT] = f"tfmot cannot quantize this model: {_reason(error)}"
    try:
        known = dict(qat.left_float) if qat else None
        pqat = quantize_layerwise(copy_model(model), prune_preserving_scheme(), known)
    except Exception as error:  # noqa: BLE001
        unsupported[Stage.PQAT] = f"tfmot cannot quantize this model with PQAT's scheme: {_reason(error)}"
    layers = tuple(
        LayerSupport(
            name=layer.name,
            type=type(layer).__name__,
            params=int(layer.count_params()),
            **_prune_verdict(layer, pruning, unsupported.get(Stage.PRUNE)),
            **_quantize_verdict(layer, qat, pqat, unsupported),
        )
        for layer in model_layers(model)
    )
    return SupportReport(layers, unsupported)


def _prune_verdict(
    layer: keras.layers.Layer, pruning: LayerwisePruning | None, refusal: str | None
) -> dict[str, Any]:
    kind = type(layer).__name__
    if pruning is None:
        return {"prunable": False, "prune_note": refusal or "tfmot cannot prune this model"}
    if layer.name in pruning.refused:
        return {"prunable": False, "prune_note": pruning.refused[layer.name]}
    weights = pruned_weights(pruning.model).get(layer.name)
    if weights:
        return {"prunable": True, "prune_note": "prunes " + ", ".join(weights)}
    if not layer.weights:
        return {"prunable": False, "prune_note": "no weights"}
    kernels = [_short(w.name) for w in layer.weights if is_kernel(w.name)]
    if kernels:
        note = f"left dense: tfmot wraps {kind} but never prunes its {', '.join(kernels)}"
    else:
        note = f"not pruned: tfmot prunes none of {kind}'s weights"
    return {"prunable": False, "prune_note": note}


def _quantize_verdict(
    layer: keras.layers.Layer,
    qat: LayerwiseQuantization | None,
    pqat: LayerwiseQuantization | None,
    unsupported: dict[Stage, str],
) -> dict[str, Any]:
    if qat is None:
        return {"quantizable": False, "quantize_note": unsupported[Stage.QAT]}
    if layer.name in qat.left_float:
        return {"quantizable": False, "quantize_note": qat.left_float[layer.name]}
    note = _quantized_how(layer, qat.model)
    if pqat is not None and layer.name in pqat.left_float:
        note += f"; PQAT: {pqat.left_float[layer.name]}"
    elif pqat is not None and _preserves_zeros(_wrapper_config(pqat.model, layer.name)):
        note += "; PQAT keeps its zeros"
    return {"quantizable": True, "quantize_note": note}


def _wrapper_config(model: keras.Model, name: str) -> Any:
    """The QuantizeConfig quantize_apply gave layer `name`, or None where it left the layer unwrapped."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Wrapper) and layer.layer.name == name:
            return getattr(layer, "quantize_config", None)
    return None


def _quantized_how(layer: keras.layers.Layer, quantized: keras.Model) -> str:
    """What the QuantizeConfig quantize_apply gave the layer in the `quantized` model does, in a few words."""
    config = _wrapper_config(quantized, layer.name)
    if config is None:
        return "nothing to quantize"
    weights = _quantized_weights(layer, config)
    before = _input_layer(layer)
    folded = isinstance(layer, keras.layers.BatchNormalization) and not weights and before is not None
    if folded and _quantized_weights(before, _wrapper_config(quantized, before.name)):
        # tfmot's layout transforms quantize a convolution (or dense layer) and the batch normalization
        # after it as one; the converter folds the normalization into that layer's weights.
        return f"folded into '{before.name}'"
    if weights:
        return "int8 " + ", ".join(weights)
    if config.get_activations_and_quantizers(layer) or config.get_output_quantizers(layer):
        return "int8 output"
    return "passes int8 values through"


def _quantized_weights(layer: keras.layers.Layer, config: Any) -> list[str]:
    if config is None:
        return []
    return [_short(weight.name) for weight, _ in config.get_weights_and_quantizers(layer)]


def _input_layer(layer: keras.layers.Layer) -> keras.layers.Layer | None:
    """The one layer feeding `layer`, if there is exactly one."""
    nodes = getattr(layer, "_inbound_nodes", [])
    if len(nodes) != 1:
        return None
    inbound = nodes[0].inbound_layers
    inbound = inbound if isinstance(inbound, list) else [inbound]
    return inbound[0] if len(inbound) == 1 else None


def _preserves_zeros(config: Any) -> bool:
    quantizer = getattr(config, "weight_quantizer", None)
    return quantizer is not None and "PrunePreserve" in type(quantizer).__name__


def _prune_refusal(layer: keras.layers.Layer, error: BaseException) -> str:
    kind = type(layer).__name__
    why = _reason(error)
    if "supported by the PruneRegistry" in why:
        why = "not in its pruning registry, not a PrunableLayer, no get_prunable_weights"
    if layer.weights:
        return f"left dense: tfmot cannot prune {kind} ({why})"
    return f"not wrapped: tfmot cannot prune {kind} ({why}); it has no weights to lose"


def _short(variable_name: str) -> str:
    """`kernel` for `prune_low_magnitude_conv2d/kernel:0`."""
    return variable_name.split("/")[-1].split(":")[0]


def is_kernel(variable_name: str) -> bool:
    return any(marker in _short(variable_name) for marker in KERNEL_MARKERS)


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"
