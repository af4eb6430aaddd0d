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
#: Parts that make a one-word name a secret (``PGPASSWORD``, ``myapikey``): safe inside a word, unlike
#: ``token`` (``tokenizer``) or ``auth`` (``author``), which count only as a word's end (``githubtoken``).
SECRET_PARTS = {
    "password": "password", "passwd": "password", "passphrase": "password", "apikey": "api_key",
    "accesskey": "access_key", "privatekey": "private_key", "secretkey": "secret", "clientsecret": "secret",
}
SECRET_ENDINGS = {"token": "token", "secret": "secret"}
#: A tokenizer's special tokens (``pad_token: "[PAD]"``) are not secrets.
NOT_SECRET_BEFORE_TOKEN = frozenset({"bos", "eos", "pad", "unk", "sep", "cls", "mask", "sos", "start", "end", "begin",
                                     "image"})
#: Every name :func:`secret_kind` accepts holds one of these, case aside (a test checks it): a cheap,
#: wider test for text that might name a secret.
SECRET_HINTS = ("pass", "pwd", "secret", "token", "key", "cred", "auth", "cookie", "session", "sig")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=8192)
def secret_kind(key: str) -> str | None:
    """The kind of secret a key name announces (``"password"``, ``"token"``...), or None."""
    words = [w for w in re.split(r"[^a-z0-9]+", _CAMEL.sub("_", key).lower()) if w]
    for index, word in enumerate(words):
        if word in SECRET_WORDS:
            if word == "token" and index and words[index - 1] in NOT_SECRET_BEFORE_TOKEN:
                continue
            return SECRET_WORDS[word]
    for pair in zip(words, words[1:]):
        if pair in SECRET_PAIRS:
            return SECRET_PAIRS[pair]
    for word in words:
        for part, kind in SECRET_PARTS.items():
            if part in word:
                return kind
        for ending, kind in SECRET_ENDINGS.items():
            if word.endswith(ending) and word != ending:
                return kind
    return None


def may_name_secret(name: str) -> bool:
    """True when ``name`` holds any of :data:`SECRET_HINTS` (wider than :func:`secret_kind`)."""
    lowered = name.lower()
    return any(hint in lowered for hint in SECRET_HINTS)
