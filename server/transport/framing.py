"""Server-to-client websocket frames, built without websockets' frame objects.

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
