"""ironship.secrets: a Secret never shows its text, and displays filter sensitive keys."""

from __future__ import annotations

import copy
import json
import pickle
import traceback

import pytest

from ironship.secrets import (
    FILTERED,
    MASK,
    Secret,
    digest_key,
    filter_sensitive,
    has_secrets,
    masked,
    revealed,
)

VALUE = "hunter2-s3cr3t"


def test_every_way_of_showing_a_secret_is_masked() -> None:
    """str, repr, f-strings, format specs and containers all give (sensitive)."""
    secret = Secret(VALUE)
    shown = [str(secret), repr(secret), f"{secret}", f"{secret:>20}"]
    shown.append(str.format("{}", secret))
    shown += [repr({"k": secret}), str([secret]), repr((secret,))]
    assert all(VALUE not in text for text in shown)
    assert str(secret) == MASK and f"{secret}" == MASK


def test_a_secret_is_no_string() -> None:
    """It can't be concatenated, JSON-encoded or pickled by accident."""
    secret = Secret(VALUE)
    with pytest.raises(TypeError):
        _ = "x" + secret  # type: ignore[operator]
    with pytest.raises(TypeError) as caught:
        json.dumps({"k": secret})
    assert VALUE not in str(caught.value)
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_an_exception_carrying_a_secret_shows_it_masked() -> None:
    """A traceback (what --debug prints) formats the secret as (sensitive)."""
    try:
        raise ValueError(f"bad value {Secret(VALUE)}", Secret(VALUE))
    except ValueError:
        text = traceback.format_exc()
    assert VALUE not in text and MASK in text


def test_reveal_matches_and_equality() -> None:
    """reveal() is the text; matches() and == compare values; copies are the same object."""
    secret = Secret(VALUE)
    assert secret.reveal() == VALUE
    assert secret.matches(VALUE) and not secret.matches("other") and not secret.matches(None)
    assert secret == Secret(VALUE) and secret != Secret("other") and secret != VALUE
    assert copy.deepcopy({"k": secret})["k"] is secret


def test_digests_are_keyed() -> None:
    """The digest is HMAC-SHA256 under a key from the token: another token, another digest."""
    secret = Secret(VALUE)
    one, other = digest_key("token-a"), digest_key("token-b")
    assert secret.digest(one) == Secret(VALUE).digest(one)
    assert secret.digest(one) != secret.digest(other)
    assert secret.digest(one) != Secret("other").digest(one)
    assert VALUE not in secret.digest(one)


def test_masked_and_revealed_copies() -> None:
    """masked() shows (sensitive) where revealed() gives the text; the input is untouched."""
    data = {"a": [Secret(VALUE), "plain"], "b": {"c": Secret("x")}}
    assert masked(data) == {"a": [MASK, "plain"], "b": {"c": MASK}}
    assert revealed(data) == {"a": [VALUE, "plain"], "b": {"c": "x"}}
    assert has_secrets(data) and not has_secrets(masked(data))


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "API_TOKEN",
        "secret",
        "clientSecret",
        "password",
        "db_pass",
        "api_key",
        "apiKey",
        "API-KEY",
        "ConnectionString",
        "connection_string",
        "license",
        "security_code",
    ],
)
def test_sensitive_keys_are_filtered_at_any_depth(key: str) -> None:
    """A value under a sensitive key (any case, _ and - ignored) reads [FILTERED], at any depth."""
    payload = {"outer": [{key: "x", "kept": 1}], key: {"nested": "y"}}
    assert filter_sensitive(payload) == {"outer": [{key: FILTERED, "kept": 1}], key: FILTERED}


def test_filtering_leaves_other_values_and_the_original_alone() -> None:
    """Other keys are copied as they are; the value sent is never modified."""
    payload = {"max": 10, "user": "ann", "password": "p"}
    assert filter_sensitive(payload) == {"max": 10, "user": "ann", "password": FILTERED}
    assert payload["password"] == "p"
    assert filter_sensitive([1, "a", None]) == [1, "a", None]


def test_a_secret_under_a_sensitive_key_says_it_is_a_secret() -> None:
    """Secrets show as (sensitive) wherever they are, filtered keys included."""
    assert filter_sensitive({"password": Secret(VALUE), "x": Secret(VALUE)}) == {
        "password": MASK,
        "x": MASK,
    }
