"""The planner's notification parser and retry budget, without a database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.planner.notification import BadNotification, parse_task_id
from dispatcher.planner.retry import HOUR_S, RetryBook, RetryPolicy


@given(st.integers(min_value=1, max_value=10**18 - 1))
def test_every_task_id_round_trips(task_id: int) -> None:
    assert parse_task_id(str(task_id)) == task_id


@given(st.text(max_size=200))
def test_any_other_payload_is_a_bad_notification_never_another_error(payload: str) -> None:
    try:
        task_id = parse_task_id(payload)
    except BadNotification as exc:
        message = str(exc)
    else:
        assert payload.isascii()
        assert payload.isdigit()
        assert 1 <= task_id < 10**18
        return
    assert len(message) < 200  # a long payload is shown truncated in the log


@pytest.mark.parametrize(
    "payload", ["", "0", "-1", " 12", "12 ", "1e3", "²", "١٢", "12\n", "9" * 19, "9" * 5000, '{"task_id": 1}']
)
def test_named_bad_payloads(payload: str) -> None:
    with pytest.raises(BadNotification):
        parse_task_id(payload)


def test_backoff_doubles_up_to_the_cap() -> None:
    p = RetryPolicy(first_s=5, factor=2, max_s=300)
    assert [p.delay(n) for n in (1, 2, 3, 4, 7, 8, 50)] == [5, 10, 20, 40, 300, 300, 300]


def test_a_failed_task_waits_its_backoff_and_succeeding_forgets_it() -> None:
    book = RetryBook(RetryPolicy(first_s=5, factor=2, max_s=300, per_hour=6))
    assert book.may_try(7, 0.0)  # never tried
    assert book.failed(7, 0.0) == 5
    assert not book.may_try(7, 4.9)
    assert book.due(4.9) == []
    assert book.may_try(7, 5.0)
    assert book.due(5.0) == [7]
    assert book.failed(7, 5.0) == 10
    assert book.due(14.9) == []
    assert book.due(15.0) == [7]
    book.forget(7)
    assert len(book) == 0
    assert book.may_try(7, 15.0)


def test_at_most_per_hour_tries_then_the_oldest_must_age_out() -> None:
    book = RetryBook(RetryPolicy(first_s=1, factor=1, max_s=1, per_hour=3))
    for t in (0.0, 1.0, 2.0):
        assert book.may_try(9, t)
        book.failed(9, t)
    assert not book.may_try(9, 100.0)  # backoff long over, but three tries in the last hour
    assert book.exhausted(9, 100.0)  # reported once …
    assert not book.exhausted(9, 200.0)  # … not on every loop
    assert book.due(HOUR_S - 0.1) == []
    assert book.may_try(9, HOUR_S + 0.1)  # the first try is now more than an hour old
    book.failed(9, HOUR_S + 0.1)
    assert not book.may_try(9, HOUR_S + 0.9)
    assert book.exhausted(9, HOUR_S + 0.9)  # a new exhaustion is reported again


def test_tasks_are_independent() -> None:
    book = RetryBook(RetryPolicy(first_s=10, per_hour=2))
    book.failed(1, 0.0)
    assert book.may_try(2, 0.0)
    assert book.failing() == [1]
