"""The loopback port helpers the embedded runtime uses to place its servers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from deploy.ports import (
    free_port,
    free_ports,
    port_is_free,
    port_is_open,
    wait_for_port,
    wait_port_free,
)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket listening on a kernel-chosen loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    assert port_is_free("127.0.0.1", port)


def test_free_ports_are_distinct() -> None:
    ports = free_ports(8)
    assert len(set(ports)) == 8
    assert free_ports(0) == []
    with pytest.raises(ValueError):
        free_ports(-1)


def test_listening_port_is_taken_and_open(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    assert not port_is_free("127.0.0.1", port)
    assert port_is_open("127.0.0.1", port)
    wait_for_port("127.0.0.1", port, timeout=2)
    assert not wait_port_free("127.0.0.1", port, timeout=0.2)


def test_closed_port_is_free_and_not_open(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    listener.close()
    assert wait_port_free("127.0.0.1", port, timeout=2)
    assert not port_is_open("127.0.0.1", port)


def test_wait_for_port_times_out() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=str(port)):
        wait_for_port("127.0.0.1", port, timeout=0.3, interval=0.05)
    assert time.monotonic() - started < 5
