"""Optional API keys at the gateway: off unless GATEWAY_API_KEYS names some.

With keys set, every write (any method but GET and HEAD) needs
``Authorization: Bearer <key>`` naming one of them, and so does every read when
GATEWAY_AUTH_READS is true; a route declared ``public`` (health, the API's own
description and its page) never does. Several keys may be set at once, so a key
can be replaced without a moment when clients holding the old one are refused.

The gateway's request handler asks ``ApiKeys.check`` before anything else, while
the request is still shallow: a refused request has no body read and calls no
service (gateway/http.py).
"""
import hashlib
import hmac
import re

from common.errors import InvalidApiKey, Unauthorized

READ_METHODS = frozenset({"GET", "HEAD"})
REALM = "sales"
# RFC 6750's b64token: what a Bearer credential may be. A key outside it could
# not be sent as one, so such a key is refused at start rather than never matched.
TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class SettingError(ValueError):
    """A setting the gateway cannot start with.

    Not nameko's ConfigurationError: `nameko run` prints that one and exits
    with status 0, as if stopped on purpose.
    """


class ApiKeys:
    """Which requests need a key, and whether the one sent is right (see the module's docstring)."""

    def __init__(self, keys=(), guard_reads=False):
        if guard_reads and not keys:
            # A misspelt GATEWAY_API_KEYS would otherwise leave every route open.
            raise SettingError("GATEWAY_AUTH_READS is true but GATEWAY_API_KEYS names no key.")
        self._digests = [_digest(key) for key in keys]
        self.guard_reads = guard_reads

    @classmethod
    def from_config(cls, config):
        return cls(parse_keys(config.get("GATEWAY_API_KEYS")), parse_flag(config.get("GATEWAY_AUTH_READS", False)))

    @property
    def enabled(self):
        return bool(self._digests)

    def check(self, method, public, authorization):
        """Raise Unauthorized (InvalidApiKey when a Bearer key was sent) unless the request may go on.

        ``public``: whether the route is declared open; ``authorization``: the
        Authorization header, or None.
        """
        if public or not self._digests or (method in READ_METHODS and not self.guard_reads):
            return
        if authorization is None:
            raise Unauthorized()
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized("Only the Bearer scheme is taken: send Authorization: Bearer <key>.")
        sent = credentials.strip()
        if not (TOKEN.fullmatch(sent) and self._matches(sent)):
            raise InvalidApiKey()

    def _matches(self, sent):
        # Every key is compared, even after one matched, and as digests of one
        # length: the time taken tells neither which key is near nor how long one is.
        digest = _digest(sent)
        matched = False
        for key in self._digests:
            matched |= hmac.compare_digest(digest, key)
        return matched


def _digest(key):
    return hashlib.sha256(key.encode()).digest()


def challenge(error):
    """The WWW-Authenticate header of a 401 (RFC 6750): ``error="invalid_token"`` when a key was sent but is wrong."""
    if isinstance(error, InvalidApiKey):
        return f'Bearer realm="{REALM}", error="invalid_token"'
    return f'Bearer realm="{REALM}"'


def parse_keys(value):
    """GATEWAY_API_KEYS, comma-separated, as a tuple of keys: () when unset or empty.

    An empty key in the list ("a,,b", "a,", "  ") is a SettingError, as is one
    no Bearer token can carry: a typo must not turn the keys off. The message
    says which key by position, never the key.
    """
    if value is None or value == "":
        return ()
    if not isinstance(value, str):
        raise SettingError("GATEWAY_API_KEYS must be a comma-separated list of keys.")
    keys = tuple(key.strip() for key in value.split(","))
    for position, key in enumerate(keys, 1):
        if not key:
            raise SettingError(f"GATEWAY_API_KEYS: key {position} of {len(keys)} is empty.")
        if not TOKEN.fullmatch(key):
            raise SettingError(
                f"GATEWAY_API_KEYS: key {position} of {len(keys)} is not a Bearer token "
                "(letters, digits and -._~+/, with = only at its end)."
            )
    return keys


def parse_flag(value):
    """GATEWAY_AUTH_READS as config/config.yml reads it (YAML): a bool, or SettingError."""
    if not isinstance(value, bool):
        raise SettingError(f"GATEWAY_AUTH_READS must be true or false, not {value!r}.")
    return value
