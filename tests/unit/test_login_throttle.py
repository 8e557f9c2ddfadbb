"""The /login brake: per user name and per address, exponential back-off, bounded memory."""

from __future__ import annotations

from services.tap.login_throttle import ADDRESS_FACTOR, MAX_BACKOFF, LoginThrottle


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_user_name_is_blocked_after_its_failures_with_growing_back_off() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, backoff=30, clock=clock)
    for _ in range(2):
        throttle.failed("ana", "198.51.100.1")
        assert throttle.retry_after("ana", "198.51.100.1") is None
    throttle.failed("ana", "198.51.100.1")
    assert throttle.retry_after("ana", "198.51.100.1") == (30, "user")
    # From another address too: the name is what is guessed.
    assert throttle.retry_after("ana", "203.0.113.7") == (30, "user")
    assert throttle.retry_after("bob", "198.51.100.1") is None
    clock.now += 31
    assert throttle.retry_after("ana", "198.51.100.1") is None
    throttle.failed("ana", "198.51.100.1")
    assert throttle.retry_after("ana", "198.51.100.1") == (60, "user")
    clock.now += 61
    throttle.failed("ana", "198.51.100.1")
    assert throttle.retry_after("ana", "198.51.100.1") == (120, "user")
    for _ in range(20):
        throttle.failed("ana", "198.51.100.1")
    assert throttle.retry_after("ana", "198.51.100.1") == (int(MAX_BACKOFF), "user")


def test_a_success_clears_the_user_name() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, backoff=30, clock=clock)
    for _ in range(2):
        throttle.failed("ana", "198.51.100.1")
    throttle.succeeded("ana")
    for _ in range(2):
        throttle.failed("ana", "198.51.100.1")
    assert throttle.retry_after("ana", "198.51.100.1") is None


def test_one_address_trying_many_names_is_blocked() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, backoff=30, clock=clock)
    for n in range(3 * ADDRESS_FACTOR):
        throttle.failed(f"name{n}", "198.51.100.9")
    assert throttle.retry_after("fresh-name", "198.51.100.9") == (30, "address")
    assert throttle.retry_after("fresh-name", "198.51.100.10") is None


def test_quiet_names_are_forgiven_and_memory_is_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, backoff=30, clock=clock, tracked=100)
    for n in range(1000):
        throttle.failed(f"name{n}", f"198.51.{n // 256}.{n % 256}")
    assert len(throttle._entries) <= 100
    throttle.failed("ana", "198.51.100.1")
    throttle.failed("ana", "198.51.100.1")
    clock.now += MAX_BACKOFF + 1
    throttle.failed("ana", "198.51.100.1")  # the earlier two are forgotten
    assert throttle.retry_after("ana", "198.51.100.1") is None
