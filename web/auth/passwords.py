"""Password hashing with argon2id (argon2-cffi) and generated passwords.

Each verification costs 64 MiB and tens of milliseconds, and login is reachable without an account: at
most ``HASH_CONCURRENCY`` run at once per process, and a caller that waits longer than ``HASH_WAIT_S`` for
a turn is told to retry (429) instead of queueing without bound. Passwords longer than ``MAX_LENGTH`` are
refused before hashing.
"""

from __future__ import annotations

import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from web.auth.errors import Throttled

_HASHER = PasswordHasher()
# Verified when the username is unknown, so a miss costs as much time as a wrong password.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")
MIN_LENGTH = 10
MAX_LENGTH = 256
HASH_CONCURRENCY = 4
HASH_WAIT_S = 5.0
_SLOTS = threading.BoundedSemaphore(HASH_CONCURRENCY)


def hash_password(password: str) -> str:
    """Return the argon2id hash (with its parameters and salt) of ``password``."""
    with _SLOTS:
        return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; constant work when there is no hash.

    Raises Throttled when every hashing slot stays busy for ``HASH_WAIT_S``.
    """
    if len(password) > MAX_LENGTH:
        return False
    if not _SLOTS.acquire(timeout=HASH_WAIT_S):
        raise Throttled("the server is busy checking passwords; try again", retry_after=2)
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
    finally:
        _SLOTS.release()


def generate_password() -> str:
    """A random password of 16 URL-safe characters (about 96 bits)."""
    return secrets.token_urlsafe(12)
