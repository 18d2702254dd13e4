"""`pqat-tui inspect`: the tensors and operators of any .tflite file, without TensorFlow, and one line for
anything that is not one.

tests/data/pqat_sample.tflite is a PQAT file this project's pipeline converted (the bundled sample, one
epoch each); tflite_fixtures builds the others. Third-party files (TensorFlow's micro examples, a quantized
MobileNetV2) are checked when /work/testdata/tflite is there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from tflite_fixtures import tiny_classifier

from engine.tflite_inspect import NotATFLiteFile, inspect_file, inspect_tflite
from pqat_tui.cli import main
from pqat_tui.inspect_tables import inspection

OURS = Path(__file__).parent / "data" / "pqat_sample.tflite"
THIRD_PARTY = Path("/work/testdata/tflite")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["inspect", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_our_pqat_file_lists_every_tensor_with_its_zeros_and_quantization() -> None:
    contents = inspect_file(OURS)
    assert contents.operators == {
        "RESHAPE": 2,
        "CONV_2D": 1,
        "DEQUANTIZE": 1,
        "FULLY_CONNECTED": 1,
        "MAX_POOL_2D": 1,
        "PACK": 1,
        "QUANTIZE": 1,
        "SHAPE": 1,
        "STRIDED_SLICE": 1,
    }
    tensors = {t.name: t for t in contents.tensors}
    assert len(tensors) == len(contents.tensors) == 20
    kernel = next(
        t for name, t in tensors.items() if name.startswith("mnist_cnn/quant_dense/MatMul") and t.constant
    )
    assert kernel.shape == (10, 2028) and kernel.dtype == "int8" and kernel.bytes == 20280
    assert kernel.zeros == pytest.approx(0.5, abs=0.005)  # PQAT kept the pruned zeros
    assert 2 <= kernel.unique_values <= 255
    conv = next(t for name, t in tensors.items() if name.startswith("mnist_cnn/quant_conv2d/Conv2D"))
    assert conv.quantization is not None and conv.quantization.per_channel
    assert len(conv.quantization.scales) == 12 and conv.quantization.axis == 0
    image = tensors["serving_default_input_1:0"]
    assert not image.constant and image.zeros is None and image.bytes == 28 * 28 * 4
    assert contents.signatures == ("serving_default",)


def test_figures_agree_with_the_litert_interpreter() -> None:
    from ai_edge_litert.interpreter import Interpreter

    contents = inspect_file(OURS)
    interpreter = Interpreter(model_path=str(OURS))
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    assert len(details) == len(contents.tensors)
    for tensor in contents.tensors:
        found = details[tensor.index]
        assert (found["name"], tuple(found["shape"])) == (tensor.name, tensor.shape)
        assert np.dtype(found["dtype"]).name == tensor.dtype
        if tensor.quantization is not None:
            np.testing.assert_allclose(found["quantization_parameters"]["scales"], tensor.quantization.scales)
        if tensor.constant:
            values = interpreter.get_tensor(tensor.index)
            assert tensor.zeros == pytest.approx(np.mean(values == 0))
            assert tensor.unique_values == len(np.unique(values))


def test_json_has_one_entry_per_tensor_and_the_operator_counts(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, str(OURS), "--json")
    assert status == 0 and err == ""
    data = json.loads(out)
    assert len(data["tensors"]) == 20
    for tensor in data["tensors"]:
        assert {"name", "shape", "dtype", "bytes", "zeros", "unique_values", "quantization"} <= set(tensor)
    assert data["operators"]["CONV_2D"] == 1
    quantized = [t["quantization"] for t in data["tensors"] if t["quantization"]]
    assert all({"scale", "zero_point", "quantized_dimension"} <= set(q) for q in quantized)


def test_tables_name_the_file_and_show_the_operators(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, str(OURS))
    assert status == 0
    for expected in (
        "pqat_sample.tflite",
        "Operators (10)",
        "CONV_2D",
        "Tensors (20)",
        "50.0%",
        "12 ch, axis 0",
    ):
        assert expected in out


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_the_tensor_table_fits_the_width_it_is_given(width: int) -> None:
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(inspection(inspect_file(OURS)))
    lines = console.export_text().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width
    if width >= 80:  # every figure stays whole; only names are cut
        text = "\n".join(lines)
        assert "20.3 KB" in text and "s 0.00392 zp -128" in text


def test_inspect_does_not_import_tensorflow(tmp_path: Path) -> None:
    code = (
        "import sys, contextlib, io\n"
        "from pqat_tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['inspect', {str(OURS)!r}]) == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(eval(out.strip().splitlines()[-1]))  # noqa: S307 - our own subprocess's list
    assert "ai_edge_litert" in loaded
    assert not {"tensorflow", "tf_keras", "keras", "textual"} & loaded


def test_a_custom_operator_no_runtime_knows_is_still_listed() -> None:
    contents = inspect_tflite(tiny_classifier(custom_op=True), "vendor.tflite")
    assert contents.operators == {"FULLY_CONNECTED": 1, "vendor-npu": 1}
    assert contents.custom_operators == ("vendor-npu",)
    tensors = {t.name: t for t in contents.tensors}
    assert tensors["dense/kernel"].zeros == 0.5
    assert tensors["int8/per_channel"].quantization.scales == pytest.approx((0.01, 0.02, 0.04))
    assert tensors["int8/activation"].quantization.zero_points == (-3,)


def _hostile_files(tmp_path: Path) -> dict[str, Path]:
    good = tiny_classifier()
    files = {
        "text": ("notes.tflite", b"just some text\n"),
        "empty": ("empty.tflite", b""),
        "truncated": ("cut.tflite", good[: len(good) // 2]),
        "random": ("noise.tflite", np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()),
        "identifier only": ("fake.tflite", b"\x10\x00\x00\x00TFL3" + bytes(8)),
    }
    paths = {}
    for key, (name, content) in files.items():
        paths[key] = tmp_path / name
        paths[key].write_bytes(content)
    paths["folder"] = tmp_path
    paths["missing"] = tmp_path / "nothing-here.tflite"
    return paths


@pytest.mark.parametrize(
    "kind", ["text", "empty", "truncated", "random", "identifier only", "folder", "missing"]
)
def test_a_file_that_is_not_a_tflite_gives_one_line_and_status_2(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _hostile_files(tmp_path)[kind]
    for extra in ((), ("--json",)):
        status, out, err = _run(capsys, str(path), *extra)
        assert status == 2 and out == ""
        assert err.startswith("pqat-tui: error: ") and err.count("\n") == 1, err
        assert str(path) in err and "Traceback" not in err


def test_an_unreadable_file_gives_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = tmp_path / "locked.tflite"
    path.write_bytes(tiny_classifier())
    path.chmod(0)
    status, _, err = _run(capsys, str(path))
    assert status == 2 and "cannot read" in err and err.count("\n") == 1


_GOOD = tiny_classifier(custom_op=True)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    content = bytearray(_GOOD)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        position = draw(st.integers(0, max(0, len(content) - 1)))
        if kind == "flip" and content:
            content[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and content:
            content[position] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF]))
        elif kind == "cut":
            del content[position:]
        elif kind == "insert":
            content[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del content[position : position + draw(st.integers(1, 16))]
    return bytes(content)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_a_mutated_flatbuffer_is_read_or_refused_in_one_line(content: bytes) -> None:
    try:
        contents = inspect_tflite(content, "mutated.tflite")
    except NotATFLiteFile as error:
        message = str(error)
        assert message.startswith("mutated.tflite: ") and "\n" not in message
        return
    json.dumps(contents.to_json())  # what it read is whole enough to print
    Console(file=open(os.devnull, "w"), width=100).print(inspection(contents))  # noqa: SIM115


@pytest.mark.skipif(not THIRD_PARTY.is_dir(), reason="third-party .tflite files not on this machine")
@pytest.mark.parametrize(
    "path", sorted(THIRD_PARTY.glob("*.tflite")) if THIRD_PARTY.is_dir() else [], ids=str
)
def test_third_party_files(path: Path) -> None:
    contents = inspect_file(path)
    assert contents.tensors and contents.operators
    if path.name == "person_detect_vela.tflite":
        assert contents.custom_operators == ("ethos-u",)
    elif path.name == "person_detect.tflite":
        # Its biases are quantized per channel along axis 3 of a 1-D tensor: LiteRT refuses to load it.
        assert len(contents.problems) == 14 and "axis 3 of 1-D" in contents.problems[0]
    else:
        from ai_edge_litert.interpreter import Interpreter

        assert not contents.problems
        assert len(Interpreter(model_path=str(path)).get_tensor_details()) == len(contents.tensors)


def test_markup_in_a_files_strings_is_shown_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    content = tiny_classifier(description="[bold]made by[/] me [/x]", name="[red]image[/red]")
    console = Console(width=120, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(inspection(inspect_tflite(content, "[link]odd[/link].tflite")))
    text = console.export_text()
    assert (
        "[bold]made by[/] me [/x]" in text
        and "[red]image[/red]" in text
        and "[link]odd[/link].tflite" in text
    )
