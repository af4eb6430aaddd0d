"""Which names announce a secret (``api_key``, ``DB_PASSWORD``, ``sessionId``): one list for the
scrubbing rules and for the writer's environment allow-list. Light to import (the writer uses it)."""

from __future__ import annotations

import functools
import re

# Words that make a key name a secret, and the marker type each implies.
SECRET_WORDS = {
    "password": "password", "passwd": "password", "pwd": "password", "passphrase": "password",
    "secret": "secret", "token": "token", "apikey": "api_key", "credential": "credential",
    "credentials": "credential", "auth": "auth", "authorization": "auth", "privatekey": "private_key",
    "accesskey": "access_key", "secretkey": "secret", "cookie": "cookie", "sessionid": "session",
    "signature": "signature", "sig": "signature",
}
SECRET_PAIRS = {
    ("api", "key"): "api_key", ("access", "key"): "access_key", ("private", "key"): "private_key",
    ("secret", "key"): "secret", ("client", "secret"): "secret", ("session", "id"): "session",
}
#: Every name :func:`secret_kind` accepts holds one of these, case aside (a test checks it): a cheap,
#: wider test for text that might name a secret.
SECRET_HINTS = ("pass", "pwd", "secret", "token", "key", "cred", "auth", "cookie", "session", "sig")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=8192)
def secret_kind(key: str) -> str | None:
    """The kind of secret a key name announces (``"password"``, ``"token"``...), or None."""
    words = [w for w in re.split(r"[^a-z0-9]+", _CAMEL.sub("_", key).lower()) if w]
    for word in words:
        if word in SECRET_WORDS:
            return SECRET_WORDS[word]
    for pair in zip(words, words[1:]):
        if pair in SECRET_PAIRS:
            return SECRET_PAIRS[pair]
    return None


def may_name_secret(name: str) -> bool:
    """True when ``name`` holds any of :data:`SECRET_HINTS` (wider than :func:`secret_kind`)."""
    lowered = name.lower()
    return any(hint in lowered for hint in SECRET_HINTS)
