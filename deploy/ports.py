"""TCP port helpers for the embedded runtime (SeaweedFS, Postgres, the web server).

The launcher runs everything on loopback and picks free ports itself, so that two checkouts,
a test run and a developer's own servers never collide on a fixed port number.
"""

from __future__ import annotations

import socket
import time

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that nothing listens on right now.

    The kernel picks the port (bind to port 0). The port is released before returning, so a
    race with another process is possible but unlikely: callers that start a server on it
    should still treat a bind failure as retryable.
    """
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Return ``count`` distinct free TCP ports on ``host``.

    All sockets stay bound until every port is chosen; asking for ports one at a time could
    hand out the same port twice, because the kernel may reuse a port that was just closed.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(_family(host), socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could bind ``host:port`` now (nothing is listening on it).

    SO_REUSEADDR is set, as Go and Postgres servers do, so connections of a stopped server
    lingering in TIME_WAIT do not count as "in use": only a live listener does.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float, interval: float = 0.1) -> None:
    """Wait until ``host:port`` accepts TCP connections; raise ``TimeoutError`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        if port_is_open(host, port, timeout=min(1.0, max(timeout, 0.05))):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:g} s")
        time.sleep(interval)


def wait_port_free(host: str, port: int, timeout: float, interval: float = 0.1) -> bool:
    """Wait until nothing listens on ``host:port``; return whether it became free in time."""
    deadline = time.monotonic() + timeout
    while True:
        if port_is_free(host, port):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _family(host: str) -> socket.AddressFamily:
    """The address family of a literal host address (IPv6 literals contain a colon)."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET
