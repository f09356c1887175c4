"""Websocket transport: handshake, authentication, frame dispatch, HTTP extras."""
