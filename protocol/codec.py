"""Encoders and decoders for both encodings, built once.

The subprotocol a client negotiates picks the codec: JSON (text frames) for
browsers and people, MessagePack (binary frames) for bots and load testers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from protocol.base import Frame, RequestId
from protocol.errors import ErrorCode
from protocol.frames import ClientFrame, ServerFrame
from protocol.version import JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL


class FrameError(Exception):
    """A client frame that cannot be accepted, with the code to answer."""

    def __init__(self, code: ErrorCode, message: str, request_id: RequestId | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


_TOO_DEEP = "frame is nested too deeply"


class _Probe(msgspec.Struct):
    """Just enough of a bad frame to name it in the error reply."""

    type: Any = None
    id: Any = None


class Codec:
    """One wire encoding: encode server frames, decode client frames."""

    def __init__(self, subprotocol: str, module: Any, text: bool) -> None:
        self.subprotocol = subprotocol
        self.text = text  # send text frames (JSON) or binary (MessagePack)
        self._encoder = module.Encoder()
        #: Encode a server frame: the encoder's own method, not a wrapper
        #: around it (two frames per relayed message go through here).
        self.encode: Callable[[Frame | Any], bytes] = self._encoder.encode
        self._client = module.Decoder(ClientFrame)
        self._server = module.Decoder(ServerFrame)
        self._probe = module.Decoder(_Probe)
        self._any = module.Decoder()

    def decode_server(self, data: bytes | str) -> Any:
        """Decode a server frame (for clients: bots, tests, the load tester)."""
        return self._server.decode(data)

    def decode_any(self, data: bytes | str) -> Any:
        return self._any.decode(data)

    def decode_client(self, data: bytes | str) -> Any:
        """Decode a client frame or raise :class:`FrameError`."""
        try:
            return self._client.decode(data)
        except msgspec.ValidationError as exc:
            raise self._explain(data, str(exc)) from None
        except msgspec.DecodeError as exc:
            raise FrameError(ErrorCode.MALFORMED, f"cannot decode frame: {exc}") from None
        except RecursionError:
            # msgspec raises RecursionError (not DecodeError) for input nested
            # deeper than the interpreter's recursion limit: ~1000 brackets.
            raise FrameError(ErrorCode.MALFORMED, _TOO_DEEP) from None

    def _explain(self, data: bytes | str, detail: str) -> FrameError:
        try:
            probe = self._probe.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return FrameError(ErrorCode.MALFORMED, "a frame must be an object with a 'type'")
        except RecursionError:
            return FrameError(ErrorCode.MALFORMED, _TOO_DEEP)
        request_id = probe.id if isinstance(probe.id, int | str) else None
        if isinstance(probe.id, bool):
            request_id = None
        if not isinstance(probe.type, str):
            return FrameError(ErrorCode.MALFORMED, "a frame needs a string 'type'", request_id)
        if "`$.type`" in detail or (detail.startswith("Invalid value") and "$.type" in detail):
            return FrameError(
                ErrorCode.UNKNOWN_TYPE, f"unknown frame type {probe.type!r}", request_id
            )
        return FrameError(ErrorCode.INVALID, f"invalid {probe.type!r} frame: {detail}", request_id)


JSON = Codec(JSON_SUBPROTOCOL, msgspec.json, text=True)
MSGPACK = Codec(MSGPACK_SUBPROTOCOL, msgspec.msgpack, text=False)
CODECS = {JSON.subprotocol: JSON, MSGPACK.subprotocol: MSGPACK}


def codec_for(subprotocol: str | None) -> Codec:
    """The codec of a negotiated subprotocol; JSON when none was offered."""
    return CODECS.get(subprotocol or "", JSON)
