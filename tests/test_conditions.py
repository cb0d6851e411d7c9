"""Pure tests of parsing validators and ranges, and of what is asked of S3."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from s3wsgi.http import conditions as c

TAG = '"abc"'
MODIFIED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def parse(with_range=True, **headers):
    environ = {"HTTP_" + name.upper(): value for name, value in headers.items()}
    return c.parse_conditions(environ, with_range=with_range)


def test_entity_tag_lists_are_parsed():
    assert c.parse_entity_tags('"a", W/"b" ,"c"') == [
        c.EntityTag('"a"'),
        c.EntityTag('"b"', weak=True),
        c.EntityTag('"c"'),
    ]
    assert c.parse_entity_tags(" * ") == c.ANY
    assert c.parse_entity_tags(None) is None


@pytest.mark.parametrize("value", ["", "abc", '"a" "b"', '"a",,', 'W/"a', '"a"; x', '"\x00"'])
def test_malformed_entity_tag_fields_are_ignored(value):
    assert c.parse_entity_tags(value) is None


@pytest.mark.parametrize(
    "value, expected",
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=5-", (5, None)),
        ("bytes=-20", (None, 20)),
        ("bytes=-0", (None, 0)),
        ("Bytes = 1 - 2", (1, 2)),
        ("bytes=5-4", None),
        ("bytes=0-1,3-4", None),
        ("bytes=-", None),
        ("items=0-1", None),
        ("bytes=a-b", None),
        ("bytes=" + "9" * 30 + "-", None),
        (None, None),
    ],
)
def test_single_byte_ranges_are_parsed_and_the_rest_ignored(value, expected):
    assert c.parse_range(value) == expected


def test_range_is_read_only_where_it_applies():
    assert parse(range="bytes=0-1").range == (0, 1)
    assert parse(with_range=False, range="bytes=0-1").range is None
    # If-Range without Range means nothing (RFC 9110 §13.1.5).
    assert parse(if_range=TAG).if_range is None


def test_if_range_is_a_tag_a_date_or_never_matches():
    assert parse(range="bytes=0-1", if_range=TAG).if_range == c.EntityTag(TAG)
    date = "Fri, 02 Jan 2026 03:04:05 GMT"
    assert parse(range="bytes=0-1", if_range=date).if_range == MODIFIED
    garbage = parse(range="bytes=0-1", if_range="garbage").if_range
    assert not c.range_applies(parse(range="bytes=0-1", if_range="garbage"), TAG, MODIFIED)
    assert garbage.weak


def test_plain_conditions_are_forwarded_to_s3():
    plan = c.plan_get(
        parse(if_match=TAG, if_none_match='W/"x"', range="bytes=1-2", if_modified_since="x")
    )
    assert plan == c.GetPlan(range=(1, 2), if_match=TAG, if_none_match='"x"')
    assert not plan.if_range_guard


def test_dates_are_forwarded_only_when_their_tag_field_is_absent():
    ims = "Fri, 02 Jan 2026 03:04:05 GMT"
    assert c.plan_get(parse(if_modified_since=ims)) == c.GetPlan(if_modified_since=MODIFIED)
    assert c.plan_get(parse(if_none_match=TAG, if_modified_since=ims)) == c.GetPlan(
        if_none_match=TAG
    )
    assert c.plan_get(parse(if_unmodified_since=ims)) == c.GetPlan(if_unmodified_since=MODIFIED)
    assert c.plan_get(parse(if_match=TAG, if_unmodified_since=ims)) == c.GetPlan(if_match=TAG)
    assert c.plan_get(parse(if_match="*", if_unmodified_since=ims)) == c.GetPlan()


def test_if_range_with_a_strong_tag_becomes_a_guarded_if_match():
    plan = c.plan_get(parse(range="bytes=0-1", if_range=TAG))
    assert plan == c.GetPlan(range=(0, 1), if_match=TAG, if_range_guard=True)
    # A weak If-Range never matches: the whole object, in one request.
    assert c.plan_get(parse(range="bytes=0-1", if_range='W/"abc"')) == c.GetPlan()


@pytest.mark.parametrize(
    "headers",
    [
        {"if_none_match": "*"},
        {"if_none_match": '"a", "b"'},
        {"if_match": '"a", "b"'},
        {"if_match": 'W/"a"'},
        {"range": "bytes=-0"},
        {"range": "bytes=0-1", "if_range": "Fri, 02 Jan 2026 03:04:05 GMT"},
        {"range": "bytes=0-1", "if_range": TAG, "if_match": TAG},
        {
            "range": "bytes=0-1",
            "if_range": TAG,
            "if_unmodified_since": "Fri, 02 Jan 2026 03:04:05 GMT",
        },
    ],
)
def test_what_s3_cannot_be_trusted_with_is_decided_locally(headers):
    assert c.plan_get(parse(**headers)) is None


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({}, None),
        ({"if_match": TAG}, None),
        ({"if_match": '"other"'}, 412),
        ({"if_match": 'W/"abc"'}, 412),  # weak tags never match strongly
        ({"if_match": '"x", "abc"'}, None),
        ({"if_match": "*"}, None),
        ({"if_unmodified_since": "Fri, 02 Jan 2026 03:04:04 GMT"}, 412),
        ({"if_unmodified_since": "Fri, 02 Jan 2026 03:04:05 GMT"}, None),
        ({"if_match": TAG, "if_unmodified_since": "Thu, 01 Jan 2026 00:00:00 GMT"}, None),
        ({"if_none_match": TAG}, 304),
        ({"if_none_match": 'W/"abc"'}, 304),  # weak comparison
        ({"if_none_match": '"x", W/"abc"'}, 304),
        ({"if_none_match": "*"}, 304),
        ({"if_none_match": '"x"'}, None),
        ({"if_modified_since": "Fri, 02 Jan 2026 03:04:05 GMT"}, 304),
        ({"if_modified_since": "Fri, 02 Jan 2026 03:04:04 GMT"}, None),
        # If-None-Match wins over If-Modified-Since.
        ({"if_none_match": '"x"', "if_modified_since": "Fri, 02 Jan 2099 00:00:00 GMT"}, None),
        # 412 is decided before 304.
        ({"if_match": '"x"', "if_none_match": TAG}, 412),
    ],
)
def test_local_evaluation_follows_rfc_9110_order(headers, expected):
    assert c.evaluate(parse(**headers), TAG, MODIFIED) == expected


def test_if_range_matches_exact_strong_tags_and_exact_dates():
    def applies(if_range):
        return c.range_applies(parse(range="bytes=0-1", if_range=if_range), TAG, MODIFIED)

    assert applies(TAG)
    assert not applies('"old"')
    assert not applies('W/"abc"')
    assert applies("Fri, 02 Jan 2026 03:04:05 GMT")
    assert not applies("Fri, 02 Jan 2026 03:04:06 GMT")
    assert not c.range_applies(parse(), TAG, MODIFIED)


def test_byte_spans_of_ranges():
    assert c.byte_span((0, 5), 10) == (0, 5)
    assert c.byte_span((5, 100), 10) == (5, 9)
    assert c.byte_span((9, None), 10) == (9, 9)
    assert c.byte_span((10, None), 10) is None
    assert c.byte_span((None, 3), 10) == (7, 9)
    assert c.byte_span((None, 50), 10) == (0, 9)
    assert c.byte_span((None, 0), 10) is None
    assert c.byte_span((None, 5), 0) is None
    assert c.byte_span((0, None), 0) is None


def test_last_modified_in_the_future_of_if_modified_since_is_sent():
    later = MODIFIED + timedelta(days=1)
    assert c.evaluate(parse(if_modified_since="Fri, 02 Jan 2026 03:04:05 GMT"), TAG, later) is None
