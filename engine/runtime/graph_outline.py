"""Read an ONNX graph's structure without reading its weights.

``onnx.load(..., load_external_data=False)`` still reads the whole file, and a
graph that keeps its weights inline (up to 2 GB) is then all in memory just to be
listed. This reader walks the protobuf wire format with seeks instead: it keeps the
graph's inputs, outputs and nodes, keeps each initializer's name, type, shape and
external-data entries, and skips every weight's bytes without reading them.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import onnx

from engine.core.errors import ModelLoadError

# Field numbers from onnx.proto3.
_MODEL_GRAPH = 7
_GRAPH_KEEP = {1, 2, 11, 12}  # node, name, input, output
_GRAPH_INITIALIZER = 5
_NODE_ATTRIBUTE = 5
_TENSOR_DATA = {4, 5, 6, 7, 9, 10, 11}  # float/int32/string/int64/raw/double/uint64 data
# Node attributes and model-level extras above this size (a Constant's tensor, a
# large function library) say nothing about how to drive the graph.
_SMALL = 64 << 10


class _Truncated(Exception):
    pass


def read_outline(path: Path) -> onnx.ModelProto:
    """The model with its graph's nodes, inputs, outputs and weightless initializers."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            wire = _Wire(f, f.tell())
            model = onnx.ModelProto()
            model.ParseFromString(bytes(_model(wire)))
            return model
    except FileNotFoundError:
        raise ModelLoadError(f"The model file {path} is missing.") from None
    except OSError as exc:
        raise ModelLoadError(f"{path} could not be read: {exc.strerror or exc}.") from None
    except Exception as exc:  # _Truncated, or protobuf's DecodeError for a field cut short
        raise ModelLoadError(
            f"{path.name} is not a readable ONNX file ({exc.__class__.__name__}). "
            "The download or conversion may have been cut short: convert or copy the model again."
        ) from None


class _Wire:
    """Seek-and-read access to protobuf fields in a file."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f = f
        self.size = size

    def read(self, start: int, end: int) -> bytes:
        self.f.seek(start)
        data = self.f.read(end - start)
        if len(data) != end - start:
            raise _Truncated()
        return data

    def varint(self, pos: int) -> tuple[int, int]:
        self.f.seek(pos)
        chunk = self.f.read(10)
        value = shift = 0
        for i, byte in enumerate(chunk):
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value, pos + i + 1
            shift += 7
        raise _Truncated()

    def fields(self, start: int, end: int):
        """(number, wire type, tag start, value start, value end) of each field in [start, end)."""
        pos = start
        while pos < end:
            tag, value_start = self.varint(pos)
            number, kind = tag >> 3, tag & 7
            if kind == 0:
                _, value_end = self.varint(value_start)
            elif kind == 1:
                value_end = value_start + 8
            elif kind == 5:
                value_end = value_start + 4
            elif kind == 2:
                length, value_start = self.varint(value_start)
                value_end = value_start + length
            else:  # groups are not used by onnx
                raise _Truncated()
            if value_end > end or number == 0:
                raise _Truncated()
            yield number, kind, pos, value_start, value_end
            pos = value_end


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint_bytes(number << 3 | 2) + _varint_bytes(len(payload)) + payload


def _model(wire: _Wire) -> bytearray:
    out = bytearray()
    for number, kind, tag, start, end in wire.fields(0, wire.size):
        if number == _MODEL_GRAPH and kind == 2:
            out += _field(number, _graph(wire, start, end))
        elif end - start <= _SMALL:
            out += wire.read(tag, end)
    return out


def _graph(wire: _Wire, start: int, end: int) -> bytes:
    out = bytearray()
    for number, kind, tag, value_start, value_end in wire.fields(start, end):
        if number == _GRAPH_INITIALIZER and kind == 2:
            out += _field(number, _without(wire, value_start, value_end, _TENSOR_DATA))
        elif number == 1 and kind == 2 and value_end - value_start > _SMALL:
            out += _field(number, _without(wire, value_start, value_end, {_NODE_ATTRIBUTE}, _SMALL))
        elif number in _GRAPH_KEEP:
            out += wire.read(tag, value_end)
    return bytes(out)


def _without(wire: _Wire, start: int, end: int, drop: set[int], limit: int = 0) -> bytes:
    """The message's fields except those in ``drop`` (or, given ``limit``, those of them above it)."""
    out = bytearray()
    for number, _, tag, value_start, value_end in wire.fields(start, end):
        if number in drop and (not limit or value_end - value_start > limit):
            continue
        out += wire.read(tag, value_end)
    return bytes(out)
