"""What is inside a .tflite file: every tensor (shape, type, quantization, share of zeros, distinct values,
bytes) and the operators, read straight from the flatbuffer with the schema module LiteRT ships.

No TensorFlow and no interpreter: a file whose operators no runtime here knows (a vendor's NPU custom op) is
read all the same, and so is a model too large to allocate. The flatbuffers package has no verifier, so
every offset and length is checked against the file before it is followed: a damaged file becomes one
`NotATFLiteFile` error naming it, never a traceback, a hang or a huge allocation.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert import schema_py_generated as schema

# Bytes 4..8 of every .tflite flatbuffer (the runtime refuses a buffer without them).
FILE_IDENTIFIER = b"TFL3"
# A flatbuffer cannot exceed 2 GiB; larger models keep their weights after it (Buffer.offset/size).
MAX_FILE_BYTES = 8 << 30

_TYPE_NAMES = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
_OPERATOR_NAMES = {
    value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}
_CUSTOM = schema.BuiltinOperator.CUSTOM

# numpy types of the tensor types whose values can be read as they are.
_NUMPY_TYPES: dict[str, np.dtype] = {
    "FLOAT32": np.dtype(np.float32),
    "FLOAT16": np.dtype(np.float16),
    "FLOAT64": np.dtype(np.float64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "BOOL": np.dtype(np.uint8),
    "COMPLEX64": np.dtype(np.complex64),
    "COMPLEX128": np.dtype(np.complex128),
}
# Types read as raw unsigned integers, with the bits that make a value non-zero (the sign bit of -0.0 not).
_RAW_TYPES: dict[str, tuple[np.dtype, int]] = {
    "BFLOAT16": (np.dtype(np.uint16), 0x7FFF),
    "FLOAT8_E4M3FN": (np.dtype(np.uint8), 0x7F),
    "FLOAT8_E5M2": (np.dtype(np.uint8), 0x7F),
}
# Packed types: values per byte.
_PACKED_TYPES = {"INT4": 2, "UINT4": 2, "INT2": 4}


class NotATFLiteFile(Exception):
    """The file is not a readable .tflite model; the message is one line naming the file and the fault."""


@dataclass(frozen=True)
class Quantization:
    """Affine quantization, real = scale * (q - zero_point): one pair, or one a channel along `axis`."""

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    def to_json(self) -> dict[str, Any]:
        return {
            "scale": list(self.scales),
            "zero_point": list(self.zero_points),
            "quantized_dimension": self.axis,
        }


@dataclass(frozen=True)
class TensorInfo:
    subgraph: int
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # the schema's name in lower case: int8, float32, int4, ...
    bytes: int | None  # of its data in the file (constants) or when allocated (activations); None: variable
    constant: bool  # its values are stored in the file
    zeros: float | None = None  # share of zero values, constants only
    unique_values: int | None = None  # distinct values, constants only
    quantization: Quantization | None = None
    sparse: bool = False  # stored in TFLite's sparse format: zeros and values count the stored ones

    def to_json(self) -> dict[str, Any]:
        return {
            "subgraph": self.subgraph,
            "index": self.index,
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "bytes": self.bytes,
            "constant": self.constant,
            "zeros": self.zeros,
            "unique_values": self.unique_values,
            "quantization": None if self.quantization is None else self.quantization.to_json(),
            "sparse": self.sparse,
        }


@dataclass(frozen=True)
class TFLiteContents:
    name: str  # the file as the user named it
    file_bytes: int
    version: int
    description: str
    subgraphs: int
    tensors: tuple[TensorInfo, ...]
    operators: dict[str, int]  # operator name (a custom op by its custom code) → count, most used first
    custom_operators: tuple[str, ...] = ()
    inputs: tuple[int, ...] = ()  # tensor indices of the first subgraph
    outputs: tuple[int, ...] = ()
    signatures: tuple[str, ...] = ()
    # What a runtime would refuse although the flatbuffer reads: e.g. TensorFlow's person_detect example has
    # per-channel biases quantized along axis 3 of a 1-D tensor, which LiteRT 2.3 will not load.
    problems: tuple[str, ...] = ()

    @property
    def constant_bytes(self) -> int:
        return sum(t.bytes or 0 for t in self.tensors if t.constant)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "file_bytes": self.file_bytes,
            "version": self.version,
            "description": self.description,
            "subgraphs": self.subgraphs,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "signatures": list(self.signatures),
            "tensors": [t.to_json() for t in self.tensors],
            "operators": dict(self.operators),
            "custom_operators": list(self.custom_operators),
            "problems": list(self.problems),
        }


def inspect_file(path: str | Path) -> TFLiteContents:
    """Read and inspect a .tflite file; NotATFLiteFile (one line naming it) for anything that is not one."""
    path = Path(path)
    shown = str(path)
    try:
        if not path.exists():
            raise NotATFLiteFile(f"{shown}: no such file")
        if path.is_dir():
            raise NotATFLiteFile(f"{shown}: a folder, not a .tflite file")
        if not path.is_file():
            raise NotATFLiteFile(f"{shown}: not a regular file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise NotATFLiteFile(f"{shown}: {size:,} bytes, larger than any .tflite model")
        content = path.read_bytes()
    except OSError as error:
        raise NotATFLiteFile(f"{shown}: cannot read: {error.strerror or error}") from error
    return inspect_tflite(content, shown)


def inspect_tflite(content: bytes, name: str = "model.tflite") -> TFLiteContents:
    """The tensors and operators of a .tflite flatbuffer held in memory."""
    if len(content) < 8:
        raise NotATFLiteFile(f"{name}: {len(content)} bytes, too short to be a .tflite file")
    if content[4:8] != FILE_IDENTIFIER:
        raise NotATFLiteFile(f"{name}: not a .tflite file (no TFL3 flatbuffer identifier)")
    try:
        return _Reader(content, name).read()
    except NotATFLiteFile:
        raise
    except Exception as error:  # noqa: BLE001 - any fault of an unverified flatbuffer means a damaged file
        raise NotATFLiteFile(f"{name}: damaged .tflite file ({_short(error)})") from error


def _short(error: Exception) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}"[:160] if text else type(error).__name__


class _Damaged(ValueError):
    pass


class _Reader:
    """One pass over a model, checking each vector's length against the file before reading it."""

    def __init__(self, content: bytes, name: str) -> None:
        self.content = content
        self.buf = bytearray(content) if not isinstance(content, bytearray) else content
        self.name = name

    def _length(self, length: int, item_bytes: int, what: str) -> int:
        if length < 0 or length * item_bytes > len(self.buf):
            raise _Damaged(f"{what}: {length:,} entries cannot fit in {len(self.buf):,} bytes")
        return length

    def read(self) -> TFLiteContents:
        model = schema.Model.GetRootAs(self.buf, 0)
        buffers_count = self._length(model.BuffersLength(), 4, "buffers")
        codes = self._operator_codes(model)
        subgraph_count = self._length(model.SubgraphsLength(), 4, "subgraphs")
        if subgraph_count == 0:
            raise NotATFLiteFile(f"{self.name}: a .tflite file with no subgraph (no model in it)")
        tensors: list[TensorInfo] = []
        operators: Counter[str] = Counter()
        inputs: tuple[int, ...] = ()
        outputs: tuple[int, ...] = ()
        for position in range(subgraph_count):
            graph = model.Subgraphs(position)
            count = self._length(graph.TensorsLength(), 4, "tensors")
            for index in range(count):
                tensors.append(self._tensor(model, graph.Tensors(index), position, index, buffers_count))
            for op_index in range(self._length(graph.OperatorsLength(), 4, "operators")):
                operator = graph.Operators(op_index)
                code = operator.OpcodeIndex()
                if not 0 <= code < len(codes):
                    raise _Damaged(f"operator {op_index} uses operator code {code} of {len(codes)}")
                for tensor_index in self._ints(operator.InputsAsNumpy(), operator.InputsLength()):
                    if not -1 <= tensor_index < count:
                        raise _Damaged(f"operator {op_index} reads tensor {tensor_index} of {count}")
                operators[codes[code]] += 1
            if position == 0:
                inputs = self._ints(graph.InputsAsNumpy(), graph.InputsLength())
                outputs = self._ints(graph.OutputsAsNumpy(), graph.OutputsLength())
                if any(not 0 <= i < count for i in (*inputs, *outputs)):
                    raise _Damaged("an input or output of the model is not one of its tensors")
        custom = tuple(
            sorted({codes[i] for i in range(len(codes)) if self._is_custom(model.OperatorCodes(i))})
        )
        signatures = tuple(
            self._text(model.SignatureDefs(i).SignatureKey())
            for i in range(self._length(model.SignatureDefsLength(), 4, "signatures"))
        )
        return TFLiteContents(
            name=self.name,
            file_bytes=len(self.content),
            version=int(model.Version()),
            description=self._text(model.Description()),
            subgraphs=subgraph_count,
            tensors=tuple(tensors),
            operators=dict(sorted(operators.items(), key=lambda item: (-item[1], item[0]))),
            custom_operators=custom,
            inputs=inputs,
            outputs=outputs,
            signatures=signatures,
            problems=tuple(problem for t in tensors if (problem := _quantization_problem(t))),
        )

    def _ints(self, values: Any, length: int) -> tuple[int, ...]:
        self._length(length, 4, "indices")
        if isinstance(values, int):  # the generated code returns 0 for an absent vector
            return ()
        return tuple(int(v) for v in values)

    @staticmethod
    def _text(raw: bytes | None) -> str:
        return "" if raw is None else raw.decode("utf-8", errors="replace")

    @staticmethod
    def _is_custom(code: Any) -> bool:
        return max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode())) == _CUSTOM

    def _operator_codes(self, model: Any) -> list[str]:
        names = []
        for i in range(self._length(model.OperatorCodesLength(), 4, "operator codes")):
            code = model.OperatorCodes(i)
            # Codes above 127 live in `builtin_code`; older files only fill the deprecated int8 field.
            builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
            if builtin == _CUSTOM:
                names.append(self._text(code.CustomCode()) or "CUSTOM")
            else:
                names.append(_OPERATOR_NAMES.get(builtin, f"BUILTIN_{builtin}"))
        return names

    def _tensor(self, model: Any, tensor: Any, subgraph: int, index: int, buffers: int) -> TensorInfo:
        type_name = _TYPE_NAMES.get(int(tensor.Type()))
        if type_name is None:
            raise _Damaged(f"tensor {index} has unknown type {tensor.Type()}")
        shape = self._ints(tensor.ShapeAsNumpy(), tensor.ShapeLength())
        if any(d < -1 for d in shape):
            raise _Damaged(f"tensor {index} has shape {list(shape)}")
        elements = math.prod(max(d, 0) for d in shape)
        allocated = _data_bytes(type_name, elements)
        quantization = self._quantization(tensor.Quantization(), index)
        sparse = tensor.Sparsity() is not None
        buffer_index = int(tensor.Buffer())
        if not 0 <= buffer_index < max(buffers, 1):
            raise _Damaged(f"tensor {index} uses buffer {buffer_index} of {buffers}")
        data = self._buffer_data(model, buffer_index) if buffers else None
        name = self._text(tensor.Name())
        if data is None or len(data) == 0:
            return TensorInfo(subgraph, index, name, shape, type_name.lower(), allocated, False, None, None,
                              quantization, sparse)  # fmt: skip
        if not sparse and allocated is not None and len(data) != allocated and elements:
            raise _Damaged(
                f"tensor {index} ({name}) holds {len(data):,} bytes for shape {list(shape)} "
                f"of {type_name.lower()}, which takes {allocated:,}"
            )
        zeros, unique = _zeros_and_unique(data, type_name)
        return TensorInfo(subgraph, index, name, shape, type_name.lower(), len(data), True, zeros, unique,
                          quantization, sparse)  # fmt: skip

    def _buffer_data(self, model: Any, index: int) -> np.ndarray | None:
        buffer = model.Buffers(index)
        offset = int(buffer.Offset())
        if offset > 1:  # weights kept after the flatbuffer, in the same file
            size = int(buffer.Size())
            if offset + size > len(self.buf):
                raise _Damaged(f"buffer {index} runs past the end of the file")
            return np.frombuffer(self.buf, dtype=np.uint8, count=size, offset=offset)
        length = buffer.DataLength()
        if length == 0:
            return None
        self._length(length, 1, f"buffer {index}")
        return buffer.DataAsNumpy()

    def _quantization(self, params: Any, index: int) -> Quantization | None:
        if params is None:
            return None
        count = self._length(params.ScaleLength(), 4, "scales")
        if count == 0:
            return None
        scales = tuple(float(s) for s in params.ScaleAsNumpy())
        zero_count = self._length(params.ZeroPointLength(), 8, "zero points")
        zero_points = tuple(int(z) for z in params.ZeroPointAsNumpy()) if zero_count else (0,) * count
        return Quantization(scales, zero_points, int(params.QuantizedDimension()))


def _quantization_problem(tensor: TensorInfo) -> str | None:
    """Per-channel parameters that do not match the tensor's shape (the runtime checks this on load)."""
    quantization = tensor.quantization
    if quantization is None or not quantization.per_channel:
        return None
    where = f"tensor {tensor.index} ({tensor.name})"
    if not 0 <= quantization.axis < len(tensor.shape):
        rank = len(tensor.shape)
        return f"{where}: quantized along axis {quantization.axis} of {rank}-D shape {list(tensor.shape)}"
    if tensor.shape[quantization.axis] not in (len(quantization.scales), -1):
        return (
            f"{where}: {len(quantization.scales)} scales for {tensor.shape[quantization.axis]} channels "
            f"along axis {quantization.axis}"
        )
    return None


def _data_bytes(type_name: str, elements: int) -> int | None:
    if type_name in _NUMPY_TYPES:
        return elements * _NUMPY_TYPES[type_name].itemsize
    if type_name in _RAW_TYPES:
        return elements * _RAW_TYPES[type_name][0].itemsize
    if type_name in _PACKED_TYPES:
        return math.ceil(elements / _PACKED_TYPES[type_name])
    return None  # strings, resources and variants have no fixed size


def _zeros_and_unique(data: np.ndarray, type_name: str) -> tuple[float | None, int | None]:
    """Share of zero values and the number of distinct values of a constant tensor's raw bytes."""
    raw = np.asarray(data, dtype=np.uint8)
    if type_name in _NUMPY_TYPES:
        dtype = _NUMPY_TYPES[type_name]
        usable = len(raw) - len(raw) % dtype.itemsize
        values = raw[:usable].view(dtype)
        zero = values == 0
    elif type_name in _RAW_TYPES:
        dtype, mask = _RAW_TYPES[type_name]
        usable = len(raw) - len(raw) % dtype.itemsize
        values = raw[:usable].view(dtype)
        zero = (values & mask) == 0
    elif type_name in _PACKED_TYPES:
        per_byte = _PACKED_TYPES[type_name]
        bits = 8 // per_byte
        values = np.stack([(raw >> (bits * k)) & ((1 << bits) - 1) for k in range(per_byte)], axis=1).ravel()
        zero = values == 0
    else:
        return None, None
    if values.size == 0:
        return None, None
    if values.dtype.itemsize == 1:
        unique = int(np.count_nonzero(np.bincount(values.view(np.uint8), minlength=256)))
    else:
        unique = int(np.unique(values).size)
    return float(np.count_nonzero(zero)) / values.size, unique
