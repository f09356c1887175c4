"""Base classes of every frame.

``kw_only`` is not inherited by msgspec structs, so every subclass repeats it.
Tags are spelled out explicitly on each frame so that renaming a class never
changes the wire.
"""

from __future__ import annotations

import msgspec

RequestId = int | str


class Frame(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
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


class Record(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True):
    """A plain value nested inside frames (not tagged)."""
