"""Framing of the messages between the grader and the sandbox: JSON plus ``.npy`` arrays.

A frame is ``u32 json_length, json, then for each array named in json["arrays"]: u64 length, npy``.
Arrays are written with ``allow_pickle=False`` and read the same way: nothing that crosses this
boundary can run code when it is decoded. Sizes are capped so that a hostile peer cannot make the
reader buffer without bound, and a frame that does not decode as described, however it fails
(bad JSON, JSON nested past the parser's depth, an array that is not a plain ``.npy``), is a
:class:`ProtocolError`.
"""
from __future__ import annotations

import io
import json
import socket
import struct
import time

MAX_JSON_BYTES = 4 << 20
MAX_ARRAY_BYTES = 64 << 20


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed frame, or closed the channel."""


def _npy(array) -> bytes:
    import numpy as np  # here, not at the top: the grader starts the sandbox before paying for numpy

    buffer = io.BytesIO()
    np.save(buffer, np.require(array, requirements="C"), allow_pickle=False)
    return buffer.getvalue()


def encode(message: dict, arrays: dict | None = None) -> bytes:
    """One frame: ``message`` (JSON-able) and ``arrays`` (name -> numpy array)."""
    arrays = arrays or {}
    header = json.dumps({**message, "arrays": list(arrays)}, allow_nan=True).encode()
    parts = [struct.pack("<I", len(header)), header]
    for name in arrays:
        blob = _npy(arrays[name])
        parts += [struct.pack("<Q", len(blob)), blob]
    return b"".join(parts)


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    chunks, left = [], n
    while left:
        if deadline is not None:
            sock.settimeout(max(deadline - time.monotonic(), 1e-3))
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ProtocolError("channel closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def send(sock: socket.socket, message: dict, arrays: dict | None = None) -> None:
    """Send one frame."""
    sock.sendall(encode(message, arrays))


def receive(sock: socket.socket, deadline: float | None = None) -> tuple[dict, dict]:
    """Read one frame; arrays come back as numpy arrays (never pickled objects).

    With a ``deadline`` (``time.monotonic()`` seconds) the whole frame must arrive by then, else
    ``TimeoutError``: a peer that trickles bytes cannot stretch the wait.
    """
    (length,) = struct.unpack("<I", _recv_exact(sock, 4, deadline))
    if length > MAX_JSON_BYTES:
        raise ProtocolError(f"message of {length} bytes is over the limit")
    raw = _recv_exact(sock, length, deadline)
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as error:  # RecursionError: nested deeper than the parser goes
        raise ProtocolError(f"message is not JSON: {type(error).__name__}") from None
    names = message.get("arrays", []) if isinstance(message, dict) else None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ProtocolError("message is not a JSON object with a list of array names")
    import numpy as np

    arrays, total = {}, 0
    message.pop("arrays", None)
    for name in names:
        (size,) = struct.unpack("<Q", _recv_exact(sock, 8, deadline))
        total += size
        if total > MAX_ARRAY_BYTES:
            raise ProtocolError("arrays over the size limit")
        blob = _recv_exact(sock, size, deadline)
        try:
            array = np.load(io.BytesIO(blob), allow_pickle=False)
        except Exception as error:  # noqa: BLE001 - whatever a malformed .npy makes numpy raise (object arrays too)
            raise ProtocolError(f"array {name[:100]!r} is not a plain numpy array: {type(error).__name__}") from None
        if not isinstance(array, np.ndarray):  # np.load also opens .npz archives
            raise ProtocolError(f"array {name[:100]!r} is not a plain numpy array")
        arrays[name] = array
    return message, arrays
