"""RetryPolicy, retry_after_seconds and RetryBudget as pure functions: no sockets, no sleeping."""

from __future__ import annotations

import email.utils
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiovertexchat._reliability.retry import (
    RETRYABLE_STATUSES,
    RetryBudget,
    RetryPolicy,
    retry_after_seconds,
)
from aiovertexchat.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    StreamInterruptedError,
    StreamTimeoutError,
    make_status_error,
)
from aiovertexchat.types import ChatCompletion

NOW = 1_700_000_000.0  # a fixed "now" (Unix time) for the HTTP-date form


def status_error(code: int) -> APIStatusError:
    return make_status_error(code, b'{"error": {"code": %d, "message": "x"}}' % code)


def empty_partial() -> ChatCompletion:
    return ChatCompletion(id="c", created=0, model="m", choices=[])


def interrupted(cause: BaseException | None = None, chunks: int = 2) -> StreamInterruptedError:
    return StreamInterruptedError(
        "broke", partial=empty_partial(), chunks_received=chunks, cause=cause
    )


# -- classify -----------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_with_their_code_as_cause(code: int) -> None:
    assert RetryPolicy().classify(status_error(code)) == str(code)


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422, 501])
def test_other_statuses_are_final(code: int) -> None:
    assert RetryPolicy().classify(status_error(code)) is None


def test_default_retryable_statuses() -> None:
    assert frozenset({408, 429, 500, 502, 503, 504}) == RETRYABLE_STATUSES
    assert RetryPolicy().statuses == RETRYABLE_STATUSES


def test_custom_statuses_replace_the_default_set() -> None:
    policy = RetryPolicy(statuses=frozenset({409}))
    assert policy.classify(status_error(409)) == "409"
    assert policy.classify(status_error(429)) is None


@pytest.mark.parametrize("kind", ["connect", "first_byte"])
def test_early_timeouts_are_retried(kind: str) -> None:
    policy = RetryPolicy()
    error = APITimeoutError("t", kind=kind)
    assert policy.classify(error) == kind
    assert policy.classify(error, chunks_shown=3) == kind  # nothing can have been shown


def test_total_timeout_is_final() -> None:
    policy = RetryPolicy(restart_on_interrupt=True)
    assert policy.classify(APITimeoutError("t", kind="total")) is None
    assert policy.classify(APITimeoutError("t")) is None  # "total" is the default kind


def test_idle_timeout_retried_only_before_chunks_or_with_restart() -> None:
    error = APITimeoutError("t", kind="idle")
    assert RetryPolicy().classify(error) == "idle"
    assert RetryPolicy().classify(error, chunks_shown=1) is None
    assert RetryPolicy(restart_on_interrupt=True).classify(error, chunks_shown=1) == "idle"


def test_connection_error_is_retried() -> None:
    assert RetryPolicy().classify(APIConnectionError("reset")) == "connection"


def test_non_api_errors_are_final() -> None:
    assert RetryPolicy().classify(ValueError("x")) is None
    assert RetryPolicy().classify(KeyboardInterrupt()) is None


def test_interrupted_stream_after_chunks_needs_restart_on_interrupt() -> None:
    error = interrupted(APIConnectionError("reset"))
    assert RetryPolicy().classify(error, chunks_shown=2) is None
    assert RetryPolicy(restart_on_interrupt=True).classify(error, chunks_shown=2) == "interrupted"


def test_interrupted_stream_before_any_chunk_is_retried() -> None:
    assert RetryPolicy().classify(interrupted(APIConnectionError("reset"), 0)) == "interrupted"
    assert RetryPolicy().classify(interrupted(None, 0)) == "interrupted"  # e.g. truncated


def test_stream_timeout_cause_gives_the_timeout_kind() -> None:
    idle = StreamTimeoutError(
        "idle", partial=empty_partial(), chunks_received=0,
        cause=APITimeoutError("t", kind="idle"),
    )
    assert idle.kind == "idle"
    assert RetryPolicy().classify(idle) == "idle"
    assert RetryPolicy().classify(idle, chunks_shown=1) is None
    assert RetryPolicy(restart_on_interrupt=True).classify(idle, chunks_shown=1) == "idle"


def test_stream_total_timeout_is_final_even_with_restart() -> None:
    total = StreamTimeoutError(
        "total", partial=empty_partial(), chunks_received=0,
        cause=APITimeoutError("t", kind="total"),
    )
    assert RetryPolicy().classify(total) is None
    assert RetryPolicy(restart_on_interrupt=True).classify(total, chunks_shown=3) is None


def test_error_event_after_shown_chunks_needs_restart_on_interrupt() -> None:
    error = status_error(503)
    error.partial = empty_partial()
    assert RetryPolicy().classify(error, chunks_shown=0) == "503"
    assert RetryPolicy().classify(error, chunks_shown=2) is None
    assert RetryPolicy(restart_on_interrupt=True).classify(error, chunks_shown=2) == "503"


def test_error_event_with_final_status_stays_final_with_restart() -> None:
    error = status_error(400)
    error.partial = empty_partial()
    assert RetryPolicy(restart_on_interrupt=True).classify(error, chunks_shown=2) is None


# -- delay --------------------------------------------------------------------------------------
def test_delay_is_full_jitter_within_exponential_bound() -> None:
    policy = RetryPolicy(base=0.5, cap=20.0)
    rng = random.Random(1234)
    for retry_number, bound in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (6, 16.0), (7, 20.0)]:
        draws = [policy.delay(retry_number, rng, None) for _ in range(200)]
        assert all(0.0 <= d <= bound for d in draws)
        # Full jitter: the draws spread over the whole interval, not just near its top.
        assert min(draws) < bound * 0.1
        assert max(draws) > bound * 0.9


def test_delay_is_reproducible_with_a_seeded_rng() -> None:
    policy = RetryPolicy()
    first = [policy.delay(n, random.Random(7), None) for n in range(1, 6)]
    second = [policy.delay(n, random.Random(7), None) for n in range(1, 6)]
    assert first == second


def test_delay_cap_holds_for_huge_retry_numbers() -> None:
    policy = RetryPolicy(base=1.0, cap=3.0)
    rng = random.Random(0)
    for retry_number in (10, 63, 64, 1000, 10**9):
        assert 0.0 <= policy.delay(retry_number, rng, None) <= 3.0


def test_zero_base_or_cap_means_no_wait() -> None:
    rng = random.Random(0)
    assert RetryPolicy(base=0.0).delay(3, rng, None) == 0.0
    assert RetryPolicy(cap=0.0).delay(3, rng, None) == 0.0


@given(
    base=st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
    cap=st.floats(min_value=0.0, max_value=1000.0, allow_nan=False),
    retry_number=st.integers(min_value=1, max_value=200),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_jitter_bounds_property(base: float, cap: float, retry_number: int, seed: int) -> None:
    policy = RetryPolicy(base=base, cap=cap)
    bound = min(cap, base * 2.0 ** min(retry_number - 1, 62))
    value = policy.delay(retry_number, random.Random(seed), None)
    assert 0.0 <= value <= bound
    assert value <= cap


@given(
    hint=st.floats(min_value=-10.0, max_value=1e6, allow_nan=False),
    max_retry_after=st.floats(min_value=0.0, max_value=1000.0, allow_nan=False),
)
def test_server_hint_replaces_the_draw_and_is_capped(hint: float, max_retry_after: float) -> None:
    policy = RetryPolicy(base=0.001, cap=0.01, max_retry_after=max_retry_after)
    rng = random.Random(0)
    state = rng.getstate()
    value = policy.delay(1, rng, hint)
    assert value == min(max(hint, 0.0), max_retry_after)
    assert rng.getstate() == state  # the hint wins: no random draw was made


def test_server_hint_wins_over_backoff_cap() -> None:
    policy = RetryPolicy(base=0.001, cap=0.01, max_retry_after=60.0)
    assert policy.delay(1, random.Random(0), 5.0) == 5.0  # above `cap`: the server knows best
    assert policy.delay(1, random.Random(0), 3600.0) == 60.0  # but never above max_retry_after
    assert policy.delay(1, random.Random(0), 0.0) == 0.0


# -- retry_after_seconds ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0.0), ("2", 2.0), ("1.5", 1.5), ("  7 ", 7.0), ("120", 120.0)],
)
def test_retry_after_seconds_form(value: str, expected: float) -> None:
    assert retry_after_seconds({"Retry-After": value}, NOW) == expected
    assert retry_after_seconds({"retry-after": value}, NOW) == expected


def test_retry_after_http_date_form() -> None:
    in_30s = email.utils.formatdate(NOW + 30, usegmt=True)
    assert retry_after_seconds({"Retry-After": in_30s}, NOW) == pytest.approx(30.0)
    # A date in the past means "now".
    ago = email.utils.formatdate(NOW - 100, usegmt=True)
    assert retry_after_seconds({"Retry-After": ago}, NOW) == 0.0


def test_retry_after_http_date_known_value() -> None:
    # 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
    headers = {"Retry-After": "Tue, 14 Nov 2023 22:14:00 GMT"}
    assert retry_after_seconds(headers, NOW) == pytest.approx(40.0)


def test_retry_after_ms_takes_precedence() -> None:
    headers = {"Retry-After": "30", "retry-after-ms": "250"}
    assert retry_after_seconds(headers, NOW) == pytest.approx(0.25)
    assert retry_after_seconds({"Retry-After-Ms": "1500"}, NOW) == pytest.approx(1.5)
    assert retry_after_seconds({"retry-after-ms": "0"}, NOW) == 0.0


@pytest.mark.parametrize("millis", ["soon", "-5", "inf", "nan", ""])
def test_unusable_retry_after_ms_falls_back_to_retry_after(millis: str) -> None:
    assert retry_after_seconds({"retry-after-ms": millis, "Retry-After": "3"}, NOW) == 3.0
    assert retry_after_seconds({"retry-after-ms": millis}, NOW) is None


@pytest.mark.parametrize(
    "value", ["soon", "", "   ", "-1", "inf", "nan", "Someday, 99 Foo 2023", "1e400"]
)
def test_garbage_retry_after_is_ignored(value: str) -> None:
    assert retry_after_seconds({"Retry-After": value}, NOW) is None


def test_no_hint_headers() -> None:
    assert retry_after_seconds({}, NOW) is None
    assert retry_after_seconds({"Content-Type": "application/json"}, NOW) is None


# -- RetryBudget --------------------------------------------------------------------------------
def test_budget_starts_full_and_spends_one_per_retry() -> None:
    budget = RetryBudget(ratio=0.2, burst=3)
    assert budget.balance == 3
    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]
    assert budget.denied == 1
    assert budget.balance == 0
    assert not budget.try_spend()
    assert budget.denied == 2


def test_budget_earns_ratio_per_success() -> None:
    budget = RetryBudget(ratio=0.25, burst=2)
    budget.try_spend()
    budget.try_spend()
    for _ in range(3):
        budget.earn()
    assert budget.balance == pytest.approx(0.75)
    assert not budget.try_spend()  # less than one whole retry earned
    budget.earn()
    assert budget.balance == pytest.approx(1.0)
    assert budget.try_spend()
    assert budget.balance == pytest.approx(0.0)
    assert budget.denied == 1


def test_budget_earning_never_exceeds_burst() -> None:
    budget = RetryBudget(ratio=0.5, burst=2)
    for _ in range(100):
        budget.earn()
    assert budget.balance == 2
    budget.try_spend()
    for _ in range(10):
        budget.earn()
    assert budget.balance == 2


def test_zero_burst_budget_denies_everything() -> None:
    budget = RetryBudget(ratio=0.0, burst=0)
    assert not budget.try_spend()
    budget.earn()
    assert budget.balance == 0
    assert budget.denied == 1


# -- RetryPolicy construction -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": -3}, "max_attempts"),
        ({"base": -0.1}, "seconds >= 0"),
        ({"cap": -1.0}, "seconds >= 0"),
        ({"max_retry_after": -1.0}, "seconds >= 0"),
        ({"budget_ratio": -0.5}, "budget_ratio"),
        ({"budget_burst": -1}, "budget_burst"),
    ],
)
def test_policy_validation(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_edge_values_are_accepted() -> None:
    policy = RetryPolicy(
        max_attempts=1, base=0.0, cap=0.0, max_retry_after=0.0, budget_ratio=0.0, budget_burst=0
    )
    assert policy.max_attempts == 1
    assert RetryPolicy(budget_ratio=None).budget_ratio is None


def test_never_makes_one_attempt_without_budget() -> None:
    policy = RetryPolicy.never()
    assert policy.max_attempts == 1
    assert policy.budget_ratio is None


def test_policy_is_frozen() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_attempts = 9  # type: ignore[misc]
