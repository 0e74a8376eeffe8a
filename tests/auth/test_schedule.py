"""The sans-IO refresh schedule: margins, jitter, skew and backoff, with injected time."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiovertexchat._auth.schedule import RefreshPolicy, TokenSchedule

POLICY = RefreshPolicy()
lifetimes = st.floats(min_value=0.5, max_value=2 * 86400.0)
nows = st.floats(min_value=-1e6, max_value=1e6)
draws = st.floats(min_value=0.0, max_value=0.999999)


def schedule(*values: float) -> TokenSchedule:
    """A schedule whose random draws are `values`, in order, then repeated."""
    sequence = list(values) or [0.5]
    state = {"i": 0}

    def rng() -> float:
        value = sequence[min(state["i"], len(sequence) - 1)]
        state["i"] += 1
        return value

    return TokenSchedule(POLICY, rng)


def test_margin_is_five_minutes_for_hour_tokens_and_a_quarter_for_short_ones() -> None:
    assert POLICY.margin(3600.0) == 300.0
    assert POLICY.margin(2.0) == 0.5
    assert POLICY.margin(1200.0) == 300.0
    assert POLICY.margin(400.0) == 100.0


def test_hour_token_timeline() -> None:
    s = schedule(0.0)
    s.on_success(1000.0, 4600.0)
    assert s.refresh_at == 4600.0 - 300.0  # u = 0: the earliest point of the window
    assert s.usable_until == 4600.0 - 10.0
    assert s.delay(1000.0) == 3300.0
    assert s.delay(5000.0) == 0.0
    assert s.usable(4589.0) and not s.usable(4590.0)
    assert s.valid(4599.0) and not s.valid(4600.0)


def test_jitter_spreads_over_a_fifth_of_the_margin() -> None:
    early, late = schedule(0.0), schedule(0.999999)
    early.on_success(0.0, 3600.0)
    late.on_success(0.0, 3600.0)
    assert early.refresh_at == 3300.0
    assert late.refresh_at == pytest.approx(3360.0, abs=1e-3)


@given(now=nows, lifetime=lifetimes, u=draws)
def test_refresh_comes_before_requests_would_wait(now: float, lifetime: float, u: float) -> None:
    s = schedule(u)
    expires_at = now + lifetime
    s.on_success(now, expires_at)
    margin = POLICY.margin(lifetime)
    assert s.usable_until is not None
    assert now < s.refresh_at < s.usable_until < expires_at
    eps = 1e-9 * max(1.0, abs(expires_at))  # float rounding of now + lifetime - now
    low, high = expires_at - margin, expires_at - margin * (1 - POLICY.jitter)
    assert low - eps <= s.refresh_at <= high + eps
    assert s.delay(now) == pytest.approx(s.refresh_at - now)
    assert s.failures == 0


@given(now=nows, lifetime=lifetimes, u=draws)
def test_failures_retry_several_times_before_the_token_stops_being_usable(
    now: float, lifetime: float, u: float
) -> None:
    """Attempts that take no time: at least four land between refresh_at and usable_until."""
    s = schedule(u)
    s.on_success(now, now + lifetime)
    assert s.usable_until is not None
    usable_until = s.usable_until
    t = s.refresh_at
    attempts = 0
    while t < usable_until and attempts < 100:
        attempts += 1
        delay = s.on_failure(t)
        assert delay > 0
        assert delay <= min(POLICY.backoff_max, POLICY.margin(lifetime) / 4) + 1e-9
        assert s.refresh_at == t + delay
        t += delay
    assert attempts >= 4
    assert s.failures == attempts


def test_backoff_doubles_then_caps_for_hour_tokens() -> None:
    s = schedule(0.0)  # no jitter: exact delays
    s.on_success(0.0, 3600.0)
    # Far from expiry the clamp to half the time left does not bind.
    delays = [s.on_failure(100.0) for _ in range(8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_backoff_is_scaled_down_for_short_tokens() -> None:
    s = schedule(0.0)
    s.on_success(0.0, 2.0)  # margin 0.5 s: base 1/32 s, cap 1/8 s
    assert [s.on_failure(0.0) for _ in range(4)] == [0.03125, 0.0625, 0.125, 0.125]


def test_retry_is_clamped_to_half_the_time_left() -> None:
    s = schedule(0.0)
    s.on_success(0.0, 3600.0)
    for _ in range(6):
        s.on_failure(0.0)
    # 30 s backoff, but only 20 s before usable_until (3590): retry in 10 s.
    assert s.on_failure(3570.0) == 10.0


def test_after_expiry_backoff_keeps_its_cap() -> None:
    s = schedule(0.0)
    s.on_success(0.0, 3600.0)
    delays = [s.on_failure(4000.0) for _ in range(7)]
    assert delays[-1] == 30.0
    assert not s.usable(4000.0)


def test_success_resets_failures() -> None:
    s = schedule(0.0)
    s.on_success(0.0, 10.0)
    s.on_failure(8.0)
    s.on_failure(8.1)
    assert s.failures == 2
    s.on_success(9.0, 19.0)
    assert s.failures == 0
    assert s.refresh_at == 19.0 - 2.5


def test_first_fetch_is_due_at_once_and_backs_off_like_an_hour_token() -> None:
    s = schedule(0.0)
    assert s.delay(123.0) == 0.0
    assert not s.usable(123.0) and not s.valid(123.0)
    assert [s.on_failure(0.0) for _ in range(3)] == [1.0, 2.0, 4.0]


def test_token_without_expiry_is_never_refreshed_ahead() -> None:
    s = schedule()
    s.on_success(5.0, None)
    assert s.delay(1e12) is None
    assert s.usable(1e12) and s.valid(1e12)
    assert s.usable_until == math.inf


def test_invalidate_makes_the_token_unusable_until_the_next_success() -> None:
    s = schedule()
    s.on_success(0.0, 100.0)
    s.on_invalidate()
    assert not s.usable(1.0) and not s.valid(1.0)
    s.on_success(1.0, 101.0)
    assert s.usable(2.0)


def test_zero_lifetime_never_asks_for_a_busy_loop() -> None:
    s = schedule()
    s.on_success(10.0, 10.0)
    assert s.refresh_at == 10.0 + POLICY.min_interval
    # Each failure still waits a little, never 0.
    assert s.on_failure(10.0) == POLICY.min_interval


@pytest.mark.parametrize(
    "kwargs",
    [
        {"margin_fraction": 0.0},
        {"margin_fraction": 1.0},
        {"jitter": 1.0},
        {"skew_fraction": 0.5},
        {"max_margin": 0.0},
        {"backoff_initial": -1.0},
        {"min_interval": 0.0},
    ],
)
def test_policy_rejects_settings_that_cannot_work(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RefreshPolicy(**kwargs)
