"""What the core asks the world to do, in order: persist, then send.

The runtime commits every :class:`Persist` of a command in one transaction
before it releases that command's :class:`Send` effects, so nothing a client
sees (or is acknowledged) can be lost by a crash.
"""

from __future__ import annotations

from typing import Any

import msgspec

from protocol.base import Push

#: ("agent", username) | ("key", api key id) | ("supervisors", "")
Target = tuple[str, str]
SUPERVISORS: Target = ("supervisors", "")


def agent(username: str) -> Target:
    return ("agent", username)


def key(key_id: str) -> Target:
    return ("key", key_id)


# Structs rather than dataclasses: a command makes two or three of these per
# message, and a frozen dataclass's __init__ is a Python call setting each
# field through object.__setattr__; a Struct is built in C. Not tracked by the
# cyclic GC (gc=False): an effect only points at a frame or a row snapshot.
class Send(msgspec.Struct, frozen=True, gc=False):
    to: Target
    frame: Push


class Persist(msgspec.Struct, frozen=True, gc=False):
    """A row to write: ``kind`` names the table, ``row`` is a snapshot."""

    kind: str
    row: Any


Effect = Send | Persist
