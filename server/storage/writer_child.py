"""The writer process: commits the batches its parent sends, in order.

Run by :class:`server.storage.writer_process.ProcessWriter` as
``python -m server.storage.writer_child FD_IN FD_OUT CONFIG``. Frames both
ways are a 4-byte big-endian length and a MessagePack array:

parent -> child   ``[0, sql_id, sql]``            a statement, before its first use
                  ``[1, batch_id, [[sql_id, params], ...]]``
child -> parent   ``[0]``                         connected, ready
                  ``[1, batch_id, rows]``         committed everything through batch_id
                  ``[2, batch_id, error]``        that transaction failed; the child exits

Every batch that has fully arrived when the previous commit ends goes into
the next transaction: the parent sends as it goes, and batching happens here.
When the parent's end of the pipe closes (it stopped, or was killed), what
arrived whole is committed and the child exits; nothing it commits was
acknowledged yet, and a client retries what was not.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sqlite3
import struct
import sys
from typing import Any

import msgspec

from server.storage.batches import (
    Change,
    WriterConfig,
    bind_none_cheaply,
    movable_tables,
    write_batch,
)

_LEN = struct.Struct("!I")
_DRAIN_LIMIT = 8 << 20  # bytes read ahead before committing what is there


def frame(obj: Any, encoder: msgspec.msgpack.Encoder) -> bytes:
    body = encoder.encode(obj)
    return _LEN.pack(len(body)) + body


def cut(buf: bytearray, decoder: msgspec.msgpack.Decoder[Any]) -> list[Any]:
    """The complete frames at the front of ``buf``, removed from it."""
    out = []
    pos = 0
    while len(buf) - pos >= 4:
        (n,) = _LEN.unpack_from(buf, pos)
        if len(buf) - pos - 4 < n:
            break
        out.append(decoder.decode(memoryview(buf)[pos + 4 : pos + 4 + n]))
        pos += 4 + n
    if pos:
        del buf[:pos]
    return out


def _send(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def serve(fd_in: int, fd_out: int, config: WriterConfig) -> int:
    encoder = msgspec.msgpack.Encoder()
    decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder()
    bind_none_cheaply()
    conn = sqlite3.connect(config.path, isolation_level=None)
    for pragma in config.pragmas:
        conn.execute(pragma)
    movable = movable_tables(conn)
    snapshots, max_run = config.snapshots, config.max_batch
    _send(fd_out, frame([0], encoder))
    os.set_blocking(fd_in, False)
    statements: dict[int, str] = {}
    buf = bytearray()
    eof = False
    while True:
        # Read all that is there now, then commit it as one transaction.
        while len(buf) < _DRAIN_LIMIT:
            try:
                data = os.read(fd_in, 1 << 20)
            except BlockingIOError:
                break
            if not data:
                eof = True
                break
            buf += data
        changes: list[Change] = []
        last = None
        for f in cut(buf, decoder):
            if f[0] == 0:
                statements[f[1]] = f[2]
            else:
                last = f[1]
                changes.extend((statements[sql_id], params) for sql_id, params in f[2])
        if last is not None:
            try:
                write_batch(conn, changes, movable, max_run, snapshots, multi_row=False)
            except Exception as exc:
                _send(fd_out, frame([2, last, repr(exc)], encoder))
                return 1
            _send(fd_out, frame([1, last, len(changes)], encoder))
        elif eof:
            conn.close()
            return 0
        else:
            select.select([fd_in], [], [])


def main(argv: list[str]) -> int:
    # Ctrl-C in a terminal, or a service manager's SIGTERM, reaches the whole
    # process group: the child must outlive the parent's shutdown, which still
    # commits. It ends when the parent closes the pipe (or dies).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fd_in, fd_out = int(argv[1]), int(argv[2])
    try:
        return serve(fd_in, fd_out, WriterConfig.from_json(json.loads(argv[3])))
    except BrokenPipeError:
        return 0  # the parent is gone: nobody is waiting for the answer


if __name__ == "__main__":
    sys.exit(main(sys.argv))
