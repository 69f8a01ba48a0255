"""Which requests the gateway's API keys let through, in plain Python (gateway/auth.py):
method, whether the route is public, the Authorization header and the settings in,
allowed or the error out. tests/e2e/test_api_keys.py shows the same on the running system."""
import hmac

import pytest

from common.errors import InvalidApiKey, Unauthorized
from gateway.auth import ApiKeys, SettingError, challenge, parse_flag, parse_keys

KEY = "k3y-0ne_2024.x~y+z/w=="
OTHER_KEY = "second-key"
WRITES = ["POST", "PUT", "PATCH", "DELETE"]
READS = ["GET", "HEAD"]


def decision(api_keys, method, authorization=None, public=False):
    """None when the request may go on, else the class of the error it is refused with."""
    try:
        api_keys.check(method, public, authorization)
    except Unauthorized as refusal:
        return type(refusal)
    return None


# off by default


@pytest.mark.parametrize("method", WRITES + READS)
def test_without_keys_every_request_goes_on(method):
    assert decision(ApiKeys(), method) is None
    assert decision(ApiKeys.from_config({}), method) is None
    assert not ApiKeys().enabled


# with keys


@pytest.mark.parametrize("method", WRITES)
def test_a_write_without_a_key_is_unauthorized(method):
    assert decision(ApiKeys([KEY]), method) is Unauthorized


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("key", [KEY, OTHER_KEY])
def test_a_write_with_any_of_the_keys_goes_on(method, key):
    assert decision(ApiKeys([KEY, OTHER_KEY]), method, f"Bearer {key}") is None


@pytest.mark.parametrize("authorization", [
    f"bearer {KEY}", f"BEARER {KEY}", f"Bearer   {KEY}", f"  Bearer {KEY}  ",
])
def test_the_scheme_is_case_insensitive_and_blanks_around_the_key_do_not_matter(authorization):
    assert decision(ApiKeys([KEY]), "POST", authorization) is None


@pytest.mark.parametrize("authorization", [
    f"Basic {KEY}", KEY, "", "   ", f"Token {KEY}", f"Bearer{KEY}",
])
def test_no_bearer_scheme_is_unauthorized_not_an_invalid_key(authorization):
    assert decision(ApiKeys([KEY]), "POST", authorization) is Unauthorized


@pytest.mark.parametrize("authorization", [
    "Bearer wrong", "Bearer", "Bearer ", f"Bearer {KEY}x", f"Bearer {KEY[:-1]}", f"Bearer {KEY.upper()}",
    f"Bearer {KEY} {KEY}", f"Bearer {KEY},{OTHER_KEY}", "Bearer k\u00e9y", f"Bearer {KEY}\x00",
])
def test_a_bearer_key_that_is_not_one_of_the_keys_is_an_invalid_key(authorization):
    assert decision(ApiKeys([KEY, OTHER_KEY]), "POST", authorization) is InvalidApiKey


def test_an_invalid_key_is_unauthorized_too():
    # One status and one challenge header for both; callers catching Unauthorized catch it.
    assert issubclass(InvalidApiKey, Unauthorized)
    assert (Unauthorized.status, InvalidApiKey.status) == (401, 401)
    assert (Unauthorized.code, InvalidApiKey.code) == ("UNAUTHORIZED", "INVALID_API_KEY")


@pytest.mark.parametrize("method", READS)
def test_reads_stay_open_unless_guarded(method):
    assert decision(ApiKeys([KEY]), method) is None
    assert decision(ApiKeys([KEY]), method, "Bearer wrong") is None


@pytest.mark.parametrize("method", READS + WRITES)
def test_with_reads_guarded_every_request_needs_a_key(method):
    api_keys = ApiKeys([KEY], guard_reads=True)

    assert decision(api_keys, method) is Unauthorized
    assert decision(api_keys, method, "Bearer wrong") is InvalidApiKey
    assert decision(api_keys, method, f"Bearer {KEY}") is None


@pytest.mark.parametrize("method", READS + WRITES)
def test_a_public_route_never_needs_a_key(method):
    api_keys = ApiKeys([KEY], guard_reads=True)

    assert decision(api_keys, method, public=True) is None
    assert decision(api_keys, method, "Bearer wrong", public=True) is None


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "post", "CONNECT"])
def test_any_method_that_is_not_a_read_needs_a_key(method):
    assert decision(ApiKeys([KEY]), method) is Unauthorized


def test_every_key_is_compared_even_after_one_matches(monkeypatch):
    compared = []
    real_compare_digest = hmac.compare_digest

    def compare_digest(a, b):
        compared.append(b)
        return real_compare_digest(a, b)

    monkeypatch.setattr("gateway.auth.hmac.compare_digest", compare_digest)
    api_keys = ApiKeys([KEY, OTHER_KEY, "third"])

    assert decision(api_keys, "POST", f"Bearer {KEY}") is None
    assert len(compared) == 3
    # digests of one length, whatever the keys' lengths
    assert {len(digest) for digest in compared} == {32}


def test_the_errors_never_carry_the_key_sent():
    for authorization in (f"Bearer {KEY}x", f"Basic {KEY}"):
        with pytest.raises(Unauthorized) as refused:
            ApiKeys([KEY]).check("POST", False, authorization)
        assert KEY not in str(refused.value.to_dict())


def test_the_challenge_names_the_realm_and_says_when_the_key_was_wrong():
    assert challenge(Unauthorized()) == 'Bearer realm="sales"'
    assert challenge(InvalidApiKey()) == 'Bearer realm="sales", error="invalid_token"'


# the settings


@pytest.mark.parametrize("value, keys", [
    (None, ()), ("", ()),
    ("one", ("one",)), ("one,two", ("one", "two")), (" one , two ", ("one", "two")),
    ("abc==", ("abc==",)),
])
def test_keys_are_read_comma_separated(value, keys):
    assert parse_keys(value) == keys


@pytest.mark.parametrize("value, position", [
    (",", 1), ("one,", 2), ("one,,two", 2), ("   ", 1), ("one, ,two", 2), (",one", 1),
])
def test_an_empty_key_in_the_list_is_a_setting_error_naming_its_position(value, position):
    with pytest.raises(SettingError) as refused:
        parse_keys(value)
    assert f"key {position} of" in str(refused.value)


@pytest.mark.parametrize("value", ["has space,ok", "ok,semi;colon", "ok,k\u00e9y", "a=b", 'quo"te'])
def test_a_key_no_bearer_token_can_carry_is_a_setting_error_that_does_not_show_it(value):
    with pytest.raises(SettingError) as refused:
        parse_keys(value)
    assert "not a Bearer token" in str(refused.value)
    assert not any(key in str(refused.value) for key in value.split(",") if key != "ok")


@pytest.mark.parametrize("value", [123, ["a"], {"a": "b"}])
def test_keys_that_are_no_string_are_a_setting_error(value):
    with pytest.raises(SettingError):
        parse_keys(value)


@pytest.mark.parametrize("value", [True, False])
def test_guarding_reads_takes_a_boolean(value):
    assert parse_flag(value) is value


@pytest.mark.parametrize("value", ["maybe", 1, 0, None])
def test_guarding_reads_with_anything_but_a_boolean_is_a_setting_error(value):
    with pytest.raises(SettingError) as refused:
        parse_flag(value)
    assert "GATEWAY_AUTH_READS must be true or false" in str(refused.value)


def test_guarding_reads_with_no_key_is_a_setting_error():
    # Else a misspelt GATEWAY_API_KEYS would leave every read (and write) open.
    with pytest.raises(SettingError):
        ApiKeys.from_config({"GATEWAY_AUTH_READS": True})
    with pytest.raises(SettingError):
        ApiKeys.from_config({"GATEWAY_API_KEYS": "", "GATEWAY_AUTH_READS": True})


def test_the_settings_are_read_from_the_config():
    api_keys = ApiKeys.from_config({"GATEWAY_API_KEYS": f"{KEY},{OTHER_KEY}", "GATEWAY_AUTH_READS": True})

    assert api_keys.enabled and api_keys.guard_reads
    assert decision(api_keys, "GET", f"Bearer {OTHER_KEY}") is None
    assert decision(api_keys, "GET", "Bearer third") is InvalidApiKey
