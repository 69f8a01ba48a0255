"""Idempotency keys: a create sent twice with one key makes one record.

A creating call may carry a key (the HTTP ``Idempotency-Key`` header; the
gateway makes one up when the client sends none, so that a request the broker
delivers twice still creates once). The record is stored with the key and a
fingerprint of the request; a second create with the same key gets the first
one's record back, or IdempotencyKeyReused when its request differs. The key
stays with the record as long as the record exists, so a retry is safe for
far longer than a day; an order that was refused (rejected) lets its key go,
so that a retry of a refused order is tried again.
"""
import hashlib
import json
import re

from common.errors import ValidationFailed

# What a record stores under this field is never returned by the API.
FIELD = "idempotency"
MAX_KEY_LENGTH = 255
# Visible ASCII, as HTTP header values are best kept.
_KEY = re.compile(r"[\x21-\x7e]{1,%d}" % MAX_KEY_LENGTH)


def claim(key, request):
    """What a create stores to be recognised when sent again: ``{"key", "fingerprint"}``; None without a key.

    ``request``: the validated request, so that two spellings of one request
    (an id in upper case, say) are the same request.
    """
    if key is None:
        return None
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValidationFailed(
            "The idempotency key must be 1 to 255 visible ASCII characters.",
            {"idempotency_key": [f"Expected 1 to {MAX_KEY_LENGTH} visible ASCII characters."]},
        )
    return {"key": key, "fingerprint": fingerprint(request)}


def fingerprint(request):
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
