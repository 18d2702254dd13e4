"""Checks of what a kernel keeps, on plain numpy arrays: unique values per output channel (clusters kept or
lost) and m:n blocks (at least m zeros in every n consecutive input weights, what 2:4 sparse hardware
accelerates). engine.weight_structure reads the kernels out of Keras models and .tflite files.

Both count per output channel: in an int8 .tflite file every conv output channel has its own scale, so a
kernel clustered to 16 values shows at most 16 unique int8 values in each channel but about 25 over a whole
12-channel kernel. Kernels are held as (out, ..., in), the layout TFLite stores conv and fully connected
weights in, so m:n blocks run along the last axis as tfmot's `sparsity_m_by_n` makes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

DEPTHWISE = "depthwise"


@dataclass(frozen=True, eq=False)
class Kernel:
    """A kernel as (out, ..., in): output channels first, the input axis last (None for depthwise)."""

    name: str
    values: np.ndarray
    kind: str = "dense"  # "conv", "dense" or "depthwise"

    @property
    def input_channels(self) -> int | None:
        return None if self.kind == DEPTHWISE else int(self.values.shape[-1])


# --- Unique values ----------------------------------------------------------------------------------------


def unique_values_per_channel(kernel: Kernel) -> int:
    """The most unique values in any one output channel of the kernel."""
    rows = kernel.values.reshape(kernel.values.shape[0], -1)
    return max((len(np.unique(row)) for row in rows), default=0)


def unique_values(kernels: Iterable[Kernel]) -> dict[str, int]:
    """{kernel name: the most unique values in any one output channel}: results' `unique_values`."""
    return {k.name: unique_values_per_channel(k) for k in kernels}


# --- m:n blocks -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockResult:
    """One kernel's m:n blocks: how many there are, how many hold fewer than m zeros, or why it is exempt."""

    name: str
    blocks: int
    failing: int
    exempt: str | None = None  # why the kernel is not held to the pattern

    @property
    def ok(self) -> bool:
        return self.exempt is not None or self.failing == 0

    def to_json(self) -> dict[str, Any]:
        return {"blocks": self.blocks, "failing": self.failing, "exempt": self.exempt}


@dataclass(frozen=True)
class BlockCheck:
    """Whether every kernel holds at least m zeros in each block of n weights along its input axis."""

    m: int
    n: int
    kernels: tuple[BlockResult, ...]

    @property
    def ok(self) -> bool:
        """True when no kernel fails and at least one was held to the pattern (all exempt proves nothing)."""
        return all(k.ok for k in self.kernels) and any(k.exempt is None for k in self.kernels)

    @property
    def failed(self) -> tuple[BlockResult, ...]:
        return tuple(k for k in self.kernels if not k.ok)

    def summary(self) -> str:
        """One line: `2:4 ok: dense/kernel (507 blocks); exempt: conv2d/kernel (1 input channel)`."""
        checked = [k for k in self.kernels if k.exempt is None]
        parts = [
            f"{k.name} ({k.blocks:,} blocks"
            + (f", {k.failing:,} with < {self.m} zeros)" if k.failing else ")")
            for k in checked
        ]
        exempt = [f"{k.name} ({k.exempt})" for k in self.kernels if k.exempt]
        line = f"{self.m}:{self.n} {'ok' if self.ok else 'FAILED'}: " + (
            "; ".join(parts) or "no kernel checked"
        )
        return line + (f"; exempt: {', '.join(exempt)}" if exempt else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "m": self.m,
            "n": self.n,
            "ok": self.ok,
            "kernels": {k.name: k.to_json() for k in self.kernels},
        }


def check_kernel_blocks(kernel: Kernel, m: int = 2, n: int = 4) -> BlockResult:
    """Count the blocks of `n` consecutive input weights that hold fewer than `m` zeros.

    As tfmot does, a last short block is padded with zeros. A kernel whose input axis is no longer than n - m
    is exempt: its blocks are all padding but for weights tfmot may leave (a 1-input-channel conv stays
    dense). Depthwise kernels have no input axis to group; tfmot never prunes them.
    """
    if kernel.kind == DEPTHWISE:
        return BlockResult(kernel.name, 0, 0, "depthwise: never pruned")
    inputs = kernel.input_channels or 0
    rows = kernel.values.reshape(-1, inputs) if inputs else kernel.values.reshape(0, 1)
    if inputs <= n - m:
        word = "channel" if inputs == 1 else "channels"
        return BlockResult(kernel.name, 0, 0, f"{inputs} input {word}: left dense")
    padded = np.pad(rows, ((0, 0), (0, (-inputs) % n)))
    blocks = padded.reshape(-1, n)
    zeros = np.count_nonzero(blocks == 0, axis=1)
    return BlockResult(kernel.name, int(len(blocks)), int(np.count_nonzero(zeros < m)))


def check_blocks(kernels: Iterable[Kernel], m: int = 2, n: int = 4) -> BlockCheck:
    return BlockCheck(m, n, tuple(check_kernel_blocks(k, m, n) for k in kernels))
