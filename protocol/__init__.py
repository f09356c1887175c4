"""Switchboard wire protocol: the single source of truth for every frame.

Frames are ``msgspec.Struct`` classes tagged by a ``type`` field. Client
requests carry an ``id`` and are answered by a reply naming that ``id`` (an
``ok``/result frame or an ``error``). Server pushes carry ``seq``, a number
that grows by one per logical session (it survives a resume).
"""

from protocol.version import PROTOCOL_VERSION

__all__ = ["PROTOCOL_VERSION"]
