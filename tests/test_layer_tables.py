"""The support table and per-layer tables of a 150-layer model, the new results.json keys, and `run` printing
the support table before any training (no TensorFlow)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from large_results import mobilenet_results
from rich.console import Console
from test_headless import FakeSession, fake  # noqa: F401 - the fixture

from engine.results import LayerSupport, ModelResult, RunResults, TFLiteInfo, WeightSparsity
from engine.stages import Stage
from pqat_tui.cli import main
from pqat_tui.layer_tables import (
    LayerView,
    fmt_size,
    sparsity_by_type_table,
    support_overview,
    support_summary,
    support_table,
)
from pqat_tui.tables import MODEL_LABELS, conclusions, kernel_sparsity, sparsity_table, tflite_weights_table


def text(renderable: object, width: int = 200) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_results_json_has_params_layers_left_dense_and_layer_support() -> None:
    results = mobilenet_results()
    raw = json.loads(json.dumps(results.to_json()))
    assert raw["models"]["pqat"]["params"] == 425_530
    assert raw["models"]["pruned"]["layers_left_dense"][:2] == [
        "expanded_conv_depthwise",
        "block_1_depthwise",
    ]
    assert raw["models"]["pqat"]["layers_left_float"] == []
    assert raw["layer_support"][0] == {
        "name": "Conv1",
        "type": "Conv2D",
        "params": 432,
        "prunable": True,
        "prune_note": "prunes kernel",
        "quantizable": True,
        "quantize_note": "int8 kernel; PQAT keeps its zeros",
    }
    assert RunResults.from_json(raw) == results


def test_results_written_before_these_keys_still_load() -> None:
    raw = mobilenet_results().to_json()
    del raw["layer_support"]
    for model in raw["models"].values():
        for key in ("params", "layers_left_dense", "layers_left_float"):
            del model[key]
    old = RunResults.from_json(raw)
    assert old.layer_support == () and old.models["pqat"].params is None
    assert old.models["pqat"].layers_left_dense == ()


def test_the_sparsity_target_concerns_the_pruned_kernels_only() -> None:
    pruned = ModelResult(
        sparsity=(
            WeightSparsity("conv/kernel", 50, 100),
            WeightSparsity("dw/depthwise_kernel", 0, 100),
            WeightSparsity("conv/bias", 0, 10),
        ),
        tflite=TFLiteInfo(1, 1, None, (WeightSparsity("conv/kernel (int8)", 50, 100),)),
        layers_left_dense=("dw",),
    )
    assert [w.name for w in pruned.kernel_sparsity()] == ["conv/kernel"]
    assert kernel_sparsity(pruned) == 0.5
    with_dense_tensor = replace(
        pruned.tflite,
        weight_sparsity=(
            *pruned.tflite.weight_sparsity,
            WeightSparsity("dw/depthwise_kernel (int8)", 0, 100),
        ),
    )
    assert [w.name for w in replace(pruned, tflite=with_dense_tensor).pruned_tflite_weights()] == [
        "conv/kernel (int8)"
    ]


def test_a_large_models_support_overview_is_a_summary_totals_and_the_odd_layers() -> None:
    support = mobilenet_results().layer_support
    overview = text(support_overview(support))
    assert "151 layers, 425,530 · 1.70 MB as float32. tfmot prunes 36 layers (88% of the" in overview
    assert "leaves 17 dense; quantizes 151." in overview
    assert (
        "Layers by type" in overview
        and "│ DepthwiseConv2D        │     17 │  23,904 │  95.6 KB │   0/17 │" in overview
    )
    assert "Layers tfmot leaves dense or float" in overview
    assert "expanded_conv_depthwise, block_1_depthwise, block_2_depthwise, … 14 more" in overview
    assert "Conv_1 " not in overview  # the supported layers are counted, not listed


def test_a_small_model_gets_the_whole_support_table() -> None:
    small = (
        LayerSupport("conv", "Conv2D", 120, True, "prunes kernel", True, "int8 kernel"),
        LayerSupport("ln", "LayerNormalization", 8, False, "not pruned: x", False, "left float: no config"),
        LayerSupport("flatten", "Flatten", 0, False, "no weights", True, "int8 output"),
    )
    overview = text(support_overview(small))
    assert (
        "3 layers, 128 · 512 B as float32. tfmot prunes 1 layers (94% of the parameters); quantizes 2,"
        in overview
    )
    assert "leaves 1 float" in overview
    assert "no left float: no config" in overview and "— no weights" in overview
    assert "Layers by type" not in overview


def test_largest_first_then_all_in_model_order_then_filtered() -> None:
    results = mobilenet_results()
    compact = text(sparsity_table(results, view=LayerView(hint="l lists all")))
    assert "the 12 largest shown; 250 more weights (l lists all)" in compact
    assert compact.index("Conv_1/kernel") < compact.index("predictions/kernel")
    assert "bn_Conv1/gamma" not in compact
    full = text(sparsity_table(results, view=LayerView(full=True)))
    assert full.count("/kernel") == 36 and "bn_Conv1/gamma" in full and "largest" not in full
    assert full.index("Conv1/kernel") < full.index("Conv_1/kernel")
    assert "50.0% 71680/143360" in full  # the full list has the zero counts
    filtered = text(sparsity_table(results, view=LayerView(name_filter="BLOCK_16")))
    assert "block_16_project/kernel" in filtered and "Conv_1" not in filtered
    assert "the 12 largest shown; 3 more weights matching 'BLOCK_16'" in filtered
    one = text(sparsity_table(results, view=LayerView(name_filter="block_16_project/")))
    assert "block_16_project/kernel" in one and "only the weights matching 'block_16_project/'" in one
    nothing = text(sparsity_table(results, view=LayerView(name_filter="nope")))
    assert "no weight matches" in nothing


def test_dense_kernels_are_marked_not_red_and_types_are_totalled() -> None:
    results = mobilenet_results()
    full = text(sparsity_table(results, view=LayerView(full=True, name_filter="block_1_depthwise/depthwise")))
    assert "0.0% 0/864 dense" in full
    by_type = text(sparsity_by_type_table(results, ("pruned", "qat", "pqat"), MODEL_LABELS))
    assert "│ DepthwiseConv2D │      17 │  23,904 │ 0.0% dense │ 0.0% dense │ 0.0% dense │" in by_type
    assert "│ Conv2D          │      35 │ 360,240 │      50.0% │       0.4% │      50.0% │" in by_type
    tflite = text(tflite_weights_table(results, "pqat", LayerView(full=True)))
    assert "143.4 KB │ 71,680/143,360 │      50.0%" in tflite and "0.1% dense" in tflite


def test_the_narrow_form_fits_a_panel_at_80_columns() -> None:
    results = mobilenet_results()
    narrow = LayerView(narrow=True)
    for renderable in (
        sparsity_table(results, view=narrow),
        sparsity_by_type_table(results, ("pruned", "qat", "pqat"), MODEL_LABELS, narrow),
        support_table(results.layer_support, narrow),
    ):
        drawn = text(renderable, width=52)
        assert "…" not in drawn  # no number cut
    assert "143,360   50.0%" in text(sparsity_table(results, view=narrow), width=52)


def test_conclusions_speak_of_the_pruned_layers() -> None:
    lines = conclusions(mobilenet_results())
    assert (
        "The PQAT .tflite file keeps 50.0% zeros in the weights of its pruned layers (17 left dense)."
        in lines
    )


def test_sizes() -> None:
    assert [fmt_size(n) for n in (512, 51_200, 1_693_072)] == ["512 B", "51.2 KB", "1.69 MB"]
    assert "(88% of the parameters)" in support_summary(mobilenet_results().layer_support).plain


def test_run_prints_the_support_table_before_any_stage(
    fake: type[FakeSession],  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
    capsys,
    tmp_path: Path,
) -> None:
    """The example's table comes with the Data stage's results: printed before Baseline starts."""
    support = mobilenet_results().layer_support

    def run_stage(self: FakeSession, stage: Stage, emit, stop) -> None:
        if stage is Stage.DATA:
            self._results = replace(self._results, layer_support=support)
        original(self, stage, emit, stop)

    original = FakeSession.run_stage
    monkeypatch.setattr(FakeSession, "run_stage", run_stage)
    assert main(["run", "--data", "sample", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert out.index("✓ Data") < out.index("151 layers") < out.index("✓ Baseline")
    assert out.count("151 layers") == 1


def test_layer_names_are_shown_never_obeyed_as_markup() -> None:
    """A layer name comes from the user's model file: `[bold]` in it is text, not a style."""
    odd = LayerSupport("conv[/]x[bold]", "My[red]Layer", 9, False, "left dense: [b]why", False, "left float")
    results = RunResults(
        config={"prune": {"sparsity": 0.5}},
        models={"pruned": ModelResult(sparsity=(WeightSparsity("conv[/]x[bold]/kernel", 1, 9),))},
        layer_support=(odd,),
    )
    drawn = text(support_overview((odd,))) + text(sparsity_table(results, view=LayerView(full=True)))
    drawn += text(support_overview((odd,) * 20))
    assert "conv[/]x[bold]" in drawn and "My[red]Layer" in drawn and "left dense: [b]why" in drawn
