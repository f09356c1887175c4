"""Files sent in chats: checked, stored by content, handed out by signed link.

A file is written (and fsynced) under its SHA-256 before the message that
carries it is committed, so a committed message never points at nothing.
Links are ``/files/<id>?exp=<unix time>&sig=<hmac>``: anyone holding one may
download until it expires (what a bot passes on to its customer), and only
the server can make them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from pathlib import Path

#: Types accepted by default, with the leading bytes a real file of that type has.
MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
    "text/plain": (),
}


class FileRefused(ValueError):
    """The file is too large, of a type not allowed, or not what it claims."""


def check(name: str, mime: str, data: bytes, allowed: list[str], max_size: int) -> None:
    if len(data) > max_size:
        raise FileRefused(f"files are limited to {max_size} bytes")
    if not data:
        raise FileRefused("the file is empty")
    if mime not in allowed:
        raise FileRefused(f"files of type {mime!r} are not accepted")
    magic = MAGIC.get(mime)
    if magic and not data.startswith(magic):
        raise FileRefused(f"{name!r} is not a {mime} file")
    if mime == "text/plain":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise FileRefused(f"{name!r} is not UTF-8 text") from None


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def _write(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # whole file or nothing, under its final name
        return digest

    async def put(self, data: bytes) -> str:
        """Store ``data`` durably; its SHA-256 (the name it is stored under)."""
        return await asyncio.to_thread(self._write, data)

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self.path(sha256).read_bytes)


class Signer:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def _sig(self, file_id: str, expires: int) -> str:
        msg = f"{file_id}:{expires}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()[:32]

    def link(self, file_id: str, expires: float) -> str:
        exp = int(expires)
        return f"/files/{file_id}?exp={exp}&sig={self._sig(file_id, exp)}"

    def valid(self, file_id: str, exp: str, sig: str, now: float) -> bool:
        if not exp.isdigit() or int(exp) < now:
            return False
        return hmac.compare_digest(self._sig(file_id, int(exp)), sig)
