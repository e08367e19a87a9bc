"""Separator extraction and every smoke expectation, with the exact messages users see."""

from __future__ import annotations

from typing import Any

import pytest

from ironship.manifest.models import SmokeTest
from ironship.smoke.expectations import (
    Failure,
    check,
    extract_blocks,
    has_unterminated_block,
    subset_mismatches,
    unified_diff,
)

SEP = "MAGICALSTDOUTSEPARATOR"
HINT = (
    "the output is the text between two separators: print MAGICALSTDOUTSEPARATOR, "
    "then the JSON result, then MAGICALSTDOUTSEPARATOR again"
)
NOTE = " (note: the log ends with an unterminated separator block, which was ignored)"


def smoke(**fields: Any) -> SmokeTest:
    return SmokeTest(name="t", payload={}, timeout=10, **fields)


def log_of(*blocks: str, before: str = "booting\n", sep: str = SEP) -> str:
    """A log the way the tutorial's workers print it: noise, then separator-wrapped blocks."""
    return before + "".join(f"{sep}\n{block}\n{sep}\nbetween\n" for block in blocks)


def messages(failures: list[Failure]) -> list[str]:
    return [f.message for f in failures]


def output_messages(output: dict[str, Any], log: str) -> list[str]:
    return messages(check(smoke(output=output), "complete", log, 1.0))


# -- extract_blocks -----------------------------------------------------------------------------


def test_extract_blocks_returns_the_stripped_text_between_each_pair() -> None:
    """Blocks pair separators from the start and drop surrounding whitespace."""
    log = f"noise {SEP}\n A \n{SEP} junk {SEP}B{SEP}\ntail"
    assert extract_blocks(log, SEP) == ["A", "B"]


def test_extract_blocks_ignores_an_unterminated_last_block() -> None:
    """With an odd separator count, the text after the last separator is not a block."""
    log = f"{SEP}A{SEP} x {SEP} half-written"
    assert extract_blocks(log, SEP) == ["A"]
    assert has_unterminated_block(log, SEP)
    assert not has_unterminated_block(f"{SEP}A{SEP}", SEP)


def test_extract_blocks_finds_nothing_without_a_separator() -> None:
    """A log with no separator, or just one, has no block."""
    assert extract_blocks("hello\n", SEP) == []
    assert extract_blocks(f"hello {SEP} world", SEP) == []


def test_extract_blocks_keeps_an_empty_block() -> None:
    """Two adjacent separators delimit one empty block."""
    assert extract_blocks(f"{SEP}\n{SEP}", SEP) == [""]


def test_extract_blocks_rejects_an_empty_separator() -> None:
    """An empty separator would split everywhere, so it is refused."""
    with pytest.raises(ValueError, match="must not be empty"):
        extract_blocks("x", "")


# -- equals ---------------------------------------------------------------------------------------


def test_equals_passes_on_the_same_json_value_whatever_its_spacing() -> None:
    """A block that parses as JSON is compared as a value, not as text."""
    log = log_of('{"b": [1, 2],\n "a": 1}')
    assert output_messages({"equals": {"a": 1, "b": [1, 2]}}, log) == []


def test_equals_fails_with_a_unified_diff_of_the_pretty_json() -> None:
    """A JSON mismatch shows expected and received as sorted, indented JSON, and their diff."""
    failures = check(smoke(output={"equals": {"a": 1, "b": 2}}), "complete", log_of('{"a": 1}'), 1)
    assert failures == [
        Failure(
            "output",
            "output does not equal the expected value",
            expected='{\n  "a": 1,\n  "b": 2\n}',
            received='{\n  "a": 1\n}',
            diff=(
                "--- expected\n+++ received\n@@ -1,4 +1,3 @@\n {\n-  "
                + '"a": 1,\n-  "b": 2\n+  "a": 1\n }'
            ),
        )
    ]


def test_equals_does_not_treat_true_as_one() -> None:
    """JSON booleans and numbers are different values even though Python says True == 1."""
    assert output_messages({"equals": 1}, log_of("true")) == [
        "output does not equal the expected value"
    ]
    assert output_messages({"equals": 1}, log_of("1.0")) == []


def test_equals_compares_a_non_json_block_as_text() -> None:
    """A block that is not JSON is compared with a string expectation as text."""
    assert output_messages({"equals": "hello world"}, log_of("hello world")) == []
    failures = check(smoke(output={"equals": "hello"}), "complete", log_of("hello world"), 1)
    assert failures == [
        Failure(
            "output",
            "output does not equal the expected value",
            expected="hello",
            received="hello world",
            diff="--- expected\n+++ received\n@@ -1 +1 @@\n-hello\n+hello world",
        )
    ]


def test_equals_with_a_string_also_matches_raw_json_text() -> None:
    """`equals: "42"` passes on output 42: the raw text equals the string."""
    assert output_messages({"equals": "42"}, log_of("42")) == []


# -- subset ---------------------------------------------------------------------------------------


def test_subset_passes_on_a_partial_object_and_an_array_prefix() -> None:
    """Extra keys and extra trailing array items in the output are fine."""
    log = log_of('{"n": 3, "seq": [0, 1, 1, 2], "meta": {"v": 1, "x": 2}}')
    assert output_messages({"subset": {"seq": [0, 1], "meta": {"v": 1}}}, log) == []


def test_subset_lists_every_mismatch_by_json_path() -> None:
    """Each wrong, missing or mistyped value is named by its JSON path in one message."""
    log = log_of('{"a": 1, "b": [1, 2], "c": {"d": true}, "e": "x", "odd key": 1}')
    expected = {"a": 1, "b": [1, 5, 7], "c": {"d": 1}, "e": {}, "f": 0, "odd key": 2}
    assert output_messages({"subset": expected}, log) == [
        "output does not contain the expected subset: $.b[1]: expected 5, got 2; "
        "$.b[2]: missing (the array has 2 items); $.c.d: expected 1, got true; "
        '$.e: expected an object, got a string ("x"); $.f: missing; '
        "$['odd key']: expected 2, got 1"
    ]


def test_subset_diff_shows_only_the_expected_shape() -> None:
    """The diff compares the expectation with the received value cut to the same keys."""
    log = log_of('{"a": 1, "big": [1, 2, 3], "other": "noise"}')
    [failure] = check(smoke(output={"subset": {"a": 2}}), "complete", log, 1)
    assert (
        failure.diff == '--- expected\n+++ received\n@@ -1,3 +1,3 @@\n {\n-  "a": 2\n+  "a": 1\n }'
    )
    assert failure.received is not None and '"other": "noise"' in failure.received


def test_subset_on_a_non_json_block_says_it_is_not_json() -> None:
    """An object subset cannot match plain text, and the message says why."""
    assert output_messages({"subset": {"a": 1}}, log_of("done!")) == [
        "output is not JSON (Expecting value: line 1 column 1 (char 0)), "
        "so it cannot contain the expected subset"
    ]


def test_subset_mismatches_compares_arrays_by_position() -> None:
    """An expected array is matched index by index, not as a set."""
    assert subset_mismatches([2, 1], [1, 2, 3]) == [
        "$[0]: expected 2, got 1",
        "$[1]: expected 1, got 2",
    ]
    assert subset_mismatches([{"id": 1}], [{"id": 1, "x": 0}, {"id": 2}]) == []
    assert subset_mismatches({"a": [1]}, {"a": {"0": 1}}) == [
        "$.a: expected an array, got an object"
    ]


# -- schema ---------------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["sequence"],
    "properties": {"sequence": {"type": "array", "items": {"type": "integer"}}},
}


def test_schema_passes_on_a_valid_block() -> None:
    """A block valid against the Draft 2020-12 schema passes."""
    assert output_messages({"schema": SCHEMA}, log_of('{"sequence": [0, 1, 1]}')) == []


def test_schema_lists_each_error_with_its_json_path() -> None:
    """Every validation error is reported, sorted by path."""
    log = log_of('{"sequence": [0, "one", 1.5]}')
    assert output_messages({"schema": SCHEMA}, log) == [
        "output does not match the schema: $.sequence[1]: 'one' is not of type 'integer'; "
        "$.sequence[2]: 1.5 is not of type 'integer'"
    ]
    assert output_messages({"schema": SCHEMA}, log_of("{}")) == [
        "output does not match the schema: $: 'sequence' is a required property"
    ]


def test_schema_on_a_non_json_block_validates_the_text() -> None:
    """A non-JSON block is validated as a string, and the message says it is not JSON."""
    assert output_messages({"schema": {"type": "string"}}, log_of("plain")) == []
    assert output_messages({"schema": SCHEMA}, log_of("plain")) == [
        "output is not JSON (Expecting value: line 1 column 1 (char 0)) and, as text, does not "
        "match the schema: $: 'plain' is not of type 'object'"
    ]


def test_schema_that_is_itself_invalid_is_reported() -> None:
    """A broken schema is a failure naming the schema problem, not a crash."""
    assert output_messages({"schema": {"type": "nope"}}, log_of("{}")) == [
        "the output schema is invalid: 'nope' is not valid under any of the given schemas"
    ]


# -- contains / matches ----------------------------------------------------------------------------


def test_contains_checks_the_raw_block_text() -> None:
    """`contains` is a substring test on the block's text; each missing string fails."""
    log = log_of('{"status": "ok"}')
    assert output_messages({"contains": '"ok"'}, log) == []
    assert output_messages({"contains": ["ok", "fine", "great"]}, log) == [
        "output does not contain 'fine'",
        "output does not contain 'great'",
    ]


def test_matches_searches_the_raw_block_text() -> None:
    """`matches` is re.search on the block's text, anywhere in it."""
    log = log_of("result: 144 items")
    assert output_messages({"matches": r"\d+ items"}, log) == []
    failures = check(smoke(output={"matches": r"^\d+$"}), "complete", log, 1)
    assert failures == [
        Failure(
            "output",
            "output does not match the pattern '^\\d+$'",
            expected=r"^\d+$",
            received="result: 144 items",
        )
    ]


def test_an_invalid_pattern_is_reported() -> None:
    """A regex that does not compile fails with the compiler's reason."""
    assert output_messages({"matches": "("}, log_of("x")) == [
        "invalid pattern '(': missing ), unterminated subpattern at position 0"
    ]


def test_several_matchers_all_apply() -> None:
    """Every matcher present in `output` is checked, in a fixed order."""
    out = {"equals": {"a": 2}, "contains": "zzz", "subset": {"a": 1}}
    assert output_messages(out, log_of('{"a": 1}')) == [
        "output does not equal the expected value",
        "output does not contain 'zzz'",
    ]


# -- blocks: missing, several, unterminated, custom separator ------------------------------


def test_no_separator_block_fails_with_a_hint() -> None:
    """A worker that prints no separator fails with one message and a hint on how to print it."""
    failures = check(smoke(output={"equals": 1}), "complete", "just text\n", 1)
    assert failures == [Failure("output", "no MAGICALSTDOUTSEPARATOR block in the log", hint=HINT)]


def test_a_single_separator_is_named_as_an_unterminated_block() -> None:
    """One separator alone is reported as an unterminated separator block."""
    assert output_messages({"equals": 1}, f"x\n{SEP}\n1\n") == [
        "no MAGICALSTDOUTSEPARATOR block in the log: it has an unterminated separator block "
        "(the separator appears only once)"
    ]


TWO = log_of('{"step": 1}', '{"step": 2}')


def test_block_first_is_the_default_and_reads_the_first_block() -> None:
    """Without `block`, the first block is checked, and messages say which of how many."""
    assert output_messages({"equals": {"step": 1}}, TWO) == []
    assert output_messages({"equals": {"step": 2}}, TWO) == [
        "output (first of 2 blocks) does not equal the expected value"
    ]


def test_block_last_reads_the_last_block() -> None:
    """`block: last` checks the last complete block."""
    assert output_messages({"equals": {"step": 2}, "block": "last"}, TWO) == []
    assert output_messages({"equals": {"step": 1}, "block": "last"}, TWO) == [
        "output (last of 2 blocks) does not equal the expected value"
    ]


def test_block_all_requires_every_block_to_match() -> None:
    """`block: all` checks each block and names the ones that fail."""
    assert output_messages({"subset": {}, "block": "all"}, TWO) == []
    assert output_messages({"subset": {"step": 1}, "block": "all"}, TWO) == [
        "output block 2 of 2 does not contain the expected subset: $.step: expected 1, got 2"
    ]


def test_an_unknown_block_choice_is_a_programming_error() -> None:
    """The manifest validates `block`; anything else reaching check() raises."""
    with pytest.raises(ValueError, match=r"output\.block must be one of first, last, all"):
        output_messages({"equals": 1, "block": "middle"}, TWO)


def test_an_unterminated_trailing_block_is_noted_on_failures_only() -> None:
    """Odd separators: the trailing half-block is ignored and failures mention it."""
    log = f"{SEP}1{SEP}\n{SEP}\n2 (crashed before closing)"
    assert output_messages({"equals": 1, "block": "last"}, log) == []
    assert output_messages({"equals": 2, "block": "last"}, log) == [
        "output does not equal the expected value" + NOTE
    ]


def test_a_custom_separator_is_used_for_blocks_and_messages() -> None:
    """A test's own separator splits the log, and the default one is then ordinary text."""
    log = log_of("7", sep="@@OUT@@") + f"{SEP}\n8\n{SEP}\n"
    test = smoke(output={"equals": 7}, separator="@@OUT@@")
    assert check(test, "complete", log, 1) == []
    missing = smoke(output={"equals": 7}, separator="<<>>")
    assert messages(check(missing, "complete", log, 1)) == ["no <<>> block in the log"]


# -- log, status, duration ------------------------------------------------------------------------


def test_log_expectations_pass() -> None:
    """`contains`, `not_contains` and `matches` accept a string or a list of strings."""
    log = "starting\ncomputed 12 numbers\ndone\n"
    expect = {"contains": ["starting", "done"], "not_contains": "Traceback", "matches": r"\d+ num"}
    assert check(smoke(log=expect), "complete", log, 1) == []


def test_log_expectations_fail_with_the_offending_line() -> None:
    """Each failed log expectation has its own message; not_contains quotes the line."""
    log = "starting\nTraceback (most recent call last):\n  boom\n"
    expect = {"contains": "done", "not_contains": ["Traceback"], "matches": ["^ok$"]}
    assert check(smoke(log=expect), "complete", log, 1) == [
        Failure("log", "log does not contain 'done'", expected="done"),
        Failure(
            "log",
            "log contains 'Traceback' (line 2: 'Traceback (most recent call last):')",
            expected="no 'Traceback'",
            received="Traceback (most recent call last):",
        ),
        Failure("log", "log does not match the pattern '^ok$'", expected="^ok$"),
    ]


def test_a_missing_log_fails_output_and_log_expectations_once() -> None:
    """When the server has no log, one failure says nothing could be checked."""
    failures = check(smoke(output={"equals": 1}, log={"contains": "x"}), "complete", None, 1)
    assert messages(failures) == [
        "the task's log is not available, so its output and log were not checked"
    ]
    assert check(smoke(), "complete", None, 1) == []


def test_status_mismatch_names_both_statuses_and_the_task_msg() -> None:
    """An unexpected status fails with expected vs received and the server's message."""
    failures = check(smoke(), "error", "", 1, msg="Process exited with 1")
    assert failures == [
        Failure(
            "status",
            "expected status 'complete', got 'error' (task msg: Process exited with 1)",
            expected="complete",
            received="error",
        )
    ]
    assert messages(check(smoke(status="error"), "complete", "", 1)) == [
        "expected status 'error', got 'complete'"
    ]
    assert check(smoke(status="error"), "error", "", 1) == []


def test_max_duration_exceeded_fails() -> None:
    """A run longer than max_duration fails; equal or unknown durations pass."""
    test = smoke(max_duration=2)
    assert check(test, "complete", "", 2.0) == []
    assert check(test, "complete", "", None) == []
    assert check(test, "complete", "", 2.5) == [
        Failure("duration", "took 2.50s, over max_duration 2s", expected="<= 2s", received="2.50s")
    ]


def test_all_kinds_are_reported_together_in_order() -> None:
    """Status, duration, output and log failures all come back, in that order."""
    test = smoke(max_duration=1, output={"equals": 1}, log={"contains": "ok"})
    kinds = [f.kind for f in check(test, "error", "nothing", 5.0)]
    assert kinds == ["status", "duration", "output", "log"]


def test_unified_diff_labels_its_sides() -> None:
    """The diff says which side is expected and which was received."""
    assert unified_diff("a\nb", "a\nc").splitlines()[:2] == ["--- expected", "+++ received"]
