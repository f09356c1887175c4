"""Protocol version, stated by the server in the ``welcome`` frame."""

PROTOCOL_VERSION = "1.0"

JSON_SUBPROTOCOL = "switchboard.v1.json"
MSGPACK_SUBPROTOCOL = "switchboard.v1.msgpack"
SUBPROTOCOLS = (JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL)
