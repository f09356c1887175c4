"""Websocket frame headers without websockets' frame objects: server-to-client
frames built in one go, and the length field of a frame read.

A commit releases many frames to one connection at once. Going through
``Protocol.send_binary`` builds a ``Frame`` object per message and serialises
it in Python; for the small unmasked, unfragmented, uncompressed frames a
server sends, the header is two to ten bytes that one ``struct`` call makes.
Only for connections without extensions (permessage-deflate would have to
compress the payload): the caller checks that.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

_LEN16 = struct.Struct("!BBH")
_LEN64 = struct.Struct("!BBQ")

#: FIN bit set, opcode text (1) or binary (2).
TEXT = 0x81
BINARY = 0x82


def encode_frames(payloads: Iterable[bytes], first_byte: int) -> bytes:
    """``payloads`` as complete websocket messages (RFC 6455 §5.2), concatenated."""
    parts: list[bytes] = []
    append = parts.append
    for data in payloads:
        n = len(data)
        if n < 126:
            append(bytes((first_byte, n)))
        elif n < 65536:
            append(_LEN16.pack(first_byte, 126, n))
        else:
            append(_LEN64.pack(first_byte, 127, n))
        append(data)
    return b"".join(parts)


def payload_length(buf: bytes | bytearray | memoryview, pos: int, end: int) -> tuple[int, int]:
    """The payload length of the frame starting at ``buf[pos]`` and the size of
    its header up to the mask key (2, 4 or 10 bytes); ``(-1, 0)`` while those
    bytes have not all arrived (``end`` is where the data in ``buf`` ends)."""
    size = buf[pos + 1] & 0x7F
    if size < 126:
        return size, 2
    head = 4 if size == 126 else 10
    if end - pos < head:
        return -1, 0
    return int.from_bytes(buf[pos + 2 : pos + head], "big"), head
