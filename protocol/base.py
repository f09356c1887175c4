"""Base classes of every frame.

``kw_only`` is not inherited by msgspec structs, so every subclass repeats it.
Tags are spelled out explicitly on each frame so that renaming a class never
changes the wire.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

#: A request id: an integer JavaScript can hold exactly, or a short string.
RequestId = (
    Annotated[int, msgspec.Meta(ge=-(2**53) + 1, le=2**53 - 1)]
    | Annotated[str, msgspec.Meta(max_length=64)]
)


# gc=False (inherited by every frame and record): a frame is a tree of plain
# values and never part of a reference cycle, so the cyclic garbage collector
# need not track it. The server builds about ten frames per routed chat, and
# each tracked one counted towards the next young collection.
class Frame(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True, gc=False):
    """Any frame on the wire."""


class Request(Frame, kw_only=True):
    """A client frame that expects exactly one reply naming its ``id``."""

    id: RequestId


class Reply(Frame, kw_only=True):
    """A server frame answering the request whose ``id`` it carries."""

    id: RequestId


class Push(Frame, kw_only=True):
    """A server frame nobody asked for; ``seq`` grows by one per session."""

    seq: int = 0


class Record(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True, gc=False):
    """A plain value nested inside frames (not tagged)."""


def tag_of(frame: Frame | type[Frame]) -> str:
    """The ``type`` a frame (or a frame class) has on the wire."""
    cls = frame if isinstance(frame, type) else type(frame)
    return str(cls.__struct_config__.tag)
