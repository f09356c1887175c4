"""Credentials: argon2 password hashes, API keys and resume tokens.

Passwords are low-entropy, so they get a slow, salted argon2id hash, checked
in a worker thread to keep the event loop free. API keys and resume tokens
are 256-bit random secrets: a SHA-256 of them is enough to make a stolen
database useless, and lets the server look them up by hash directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's argon2id minimum (19 MiB, 2 passes): ~20 ms per check here.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
#: Compared against when the username is unknown, so that timing does not
#: reveal which usernames exist.
_DUMMY = _hasher.hash("switchboard-no-such-user")

API_KEY_PREFIX = "sbk_"
TOKEN_PREFIX = "sbt_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


def check_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def check_password_async(stored: str | None, password: str) -> bool:
    return await asyncio.to_thread(check_password, stored, password)


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
