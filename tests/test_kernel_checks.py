"""Unique values per output channel and the m:n block check, on hand-made kernels (numpy only)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from engine.kernel_checks import (
    DEPTHWISE,
    BlockCheck,
    Kernel,
    check_blocks,
    check_kernel_blocks,
    unique_values,
    unique_values_per_channel,
)


def test_unique_values_are_counted_per_output_channel() -> None:
    # Two output channels, each with 3 values of its own: 6 over the kernel, 3 in any one channel.
    values = np.array([[0.1, 0.2, 0.3, 0.1], [1.0, 2.0, 3.0, 3.0]])
    assert unique_values_per_channel(Kernel("k", values)) == 3
    assert len(np.unique(values)) == 6
    assert unique_values([Kernel("a", values), Kernel("b", np.zeros((4, 2)))]) == {"a": 3, "b": 1}


def test_a_clustered_int8_conv_shows_few_values_per_channel_but_many_over_the_kernel() -> None:
    """The issue's fact: per-channel scales spread 16 centroids over ~25 int8 values across 12 channels."""
    rng = np.random.default_rng(0)
    centroids = rng.uniform(-1, 1, 16)
    kernel = rng.choice(centroids, size=(12, 3, 3, 1))
    scales = np.abs(kernel).reshape(12, -1).max(axis=1).reshape(12, 1, 1, 1) / 127  # symmetric, per channel
    quantized = np.rint(kernel / scales).astype(np.int8)
    assert unique_values_per_channel(Kernel("conv", quantized, "conv")) <= 16
    assert len(np.unique(quantized)) > 16


def _dense(rows: list[list[float]]) -> Kernel:
    return Kernel("dense/kernel", np.array(rows, dtype=np.float32), "dense")


def test_blocks_of_four_input_weights_need_two_zeros() -> None:
    good = _dense([[0, 1, 0, 2, 3, 0, 0, 4], [5, 0, 0, 6, 0, 0, 0, 0]])
    bad = _dense([[0, 1, 0, 2, 3, 1, 0, 4], [5, 0, 0, 6, 0, 0, 0, 0]])
    assert check_kernel_blocks(good).blocks == 4 and check_kernel_blocks(good).ok
    result = check_kernel_blocks(bad)
    assert (result.blocks, result.failing, result.ok) == (4, 1, False)


def test_a_short_last_block_is_padded_with_zeros_as_tfmot_pads_it() -> None:
    # 6 inputs: blocks [a b c d] [e f 0 0]; the padded block already holds two zeros.
    assert check_kernel_blocks(_dense([[0, 1, 0, 1, 7, 8]])).ok
    assert not check_kernel_blocks(_dense([[0, 1, 0, 1, 7, 8, 9]])).ok  # [7 8 9 pad]: one zero


def test_kernels_tfmot_leaves_dense_are_exempt_not_failed() -> None:
    one_input_conv = Kernel("conv2d/kernel", np.ones((12, 3, 3, 1)), "conv")
    depthwise = Kernel("dw/depthwise_kernel", np.ones((8, 3, 3)), DEPTHWISE)
    results = {r.name: r for r in check_blocks([one_input_conv, depthwise]).kernels}
    assert results["conv2d/kernel"].exempt == "1 input channel: left dense"
    assert results["dw/depthwise_kernel"].exempt == "depthwise: never pruned"
    assert all(r.ok for r in results.values())
    # Nothing was held to the pattern: that proves nothing, so the check does not pass.
    assert not check_blocks([one_input_conv, depthwise]).ok
    three_inputs = Kernel("c3", np.ones((2, 3)), "conv")
    assert check_kernel_blocks(three_inputs).exempt is None  # tfmot prunes 1 of every 3 here


def test_block_check_summary_and_json() -> None:
    check = check_blocks(
        [
            Kernel("conv2d/kernel", np.ones((12, 3, 3, 1)), "conv"),
            _dense([[0, 1, 0, 2], [1, 1, 1, 0]]),
        ]
    )
    assert isinstance(check, BlockCheck) and not check.ok
    assert [r.name for r in check.failed] == ["dense/kernel"]
    assert check.summary() == (
        "2:4 FAILED: dense/kernel (2 blocks, 1 with < 2 zeros); "
        "exempt: conv2d/kernel (1 input channel: left dense)"
    )
    assert check.to_json() == {
        "m": 2,
        "n": 4,
        "ok": False,
        "kernels": {
            "conv2d/kernel": {"blocks": 0, "failing": 0, "exempt": "1 input channel: left dense"},
            "dense/kernel": {"blocks": 2, "failing": 1, "exempt": None},
        },
    }


@pytest.mark.parametrize(("m", "n", "ok"), [(1, 4, True), (2, 4, True), (3, 4, False), (1, 2, True)])
def test_other_m_by_n_patterns(m: int, n: int, ok: bool) -> None:
    kernel = _dense([[0, 0, 1, 0, 0, 1, 0, 1]])
    assert check_blocks([kernel], m, n).ok is ok


def test_kernel_checks_import_no_tensorflow() -> None:
    code = "import sys, engine.kernel_checks, engine.stage_cost; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
