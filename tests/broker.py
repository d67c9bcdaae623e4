"""A real mosquitto broker process on a free loopback port, for tests."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import shutil
import socket
import struct
import subprocess
import tempfile
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

# Brokers this process runs now, for `quiet_token` (each test starts its own).
_RUNNING: list[MosquittoBroker] = []


# Below Linux's ephemeral range (32768-60999): a port the kernel hands out to outgoing
# connections (pip downloading beside the tests) can be taken between our check and the
# server's bind; a port from here only by another server.
_PORTS = range(20000, 32000)
_random_ports = random.Random(os.getpid())


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    while True:
        port = _random_ports.choice(_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use: another one
            return port


def mosquitto_binary() -> str:
    """Locate Debian's mosquitto (scripts/test installs it)."""
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("mosquitto is not installed; run scripts/test, which installs it")


@dataclass
class BrokerUser:
    username: str
    password: str


@dataclass
class MosquittoBroker:
    """One mosquitto process; stop() and start() keep the same port (a broker restart)."""

    users: list[BrokerUser] = field(default_factory=list)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)  # used when a certificate is given
    extra_config: list[str] = field(default_factory=list)  # more mosquitto.conf lines
    _process: subprocess.Popen[bytes] | None = None
    _scheduler: _SchedulerView | None = None
    _workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mosq-")))

    def _write_config(self) -> Path:
        lines = [
            f"listener {self.port} {self.host}",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "user root",
            # Routed messages leave at once, not after a delayed ACK (see quiet_token).
            "set_tcp_nodelay true",
        ]
        if self.users:
            password_file = self._workdir / "passwords"
            password_file.write_text("")
            password_file.chmod(0o600)
            for user in self.users:
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(password_file), user.username, user.password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls_cert and self.tls_key:
            # A second listener with TLS; the plain one stays for the simulator.
            lines += [
                f"listener {self.tls_port} {self.host}",
                f"certfile {self.tls_cert}",
                f"keyfile {self.tls_key}",
            ]
        lines += self.extra_config
        lines.insert(0, "per_listener_settings false")
        config = self._workdir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> None:
        config = self._write_config()
        self._process = subprocess.Popen(  # noqa: S603
            [mosquitto_binary(), "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        # Counted attempts, not a clock: freezegun may have frozen time.monotonic.
        for _attempt in range(500):
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"mosquitto exited: {err}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    self._scheduler = _SchedulerView(self._process.pid)
                    _RUNNING.append(self)
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self._scheduler is not None:
            self._scheduler.close()
            self._scheduler = None
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stderr:
            self._process.stderr.close()
        self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)


class _SchedulerView:
    """Whether a process sleeps in epoll, and how often it ran (its /proc files, kept open)."""

    def __init__(self, pid: int) -> None:
        self._wchan = os.open(f"/proc/{pid}/wchan", os.O_RDONLY)
        self._schedstat = os.open(f"/proc/{pid}/schedstat", os.O_RDONLY)

    def runs_while_asleep(self) -> int | None:
        """How often it was scheduled so far, if it sleeps in epoll now; else None."""
        try:
            wchan = os.pread(self._wchan, 64, 0)
            schedstat = os.pread(self._schedstat, 128, 0)
        except OSError:
            return None  # it exited
        if b"epoll" not in wchan:
            return None
        return int(schedstat.split()[2])

    def close(self) -> None:
        os.close(self._wchan)
        os.close(self._schedstat)


def _own_socket_fds() -> list[int]:
    """This process's socket file descriptors."""
    fds = []
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:["):
                fds.append(int(name))
    return fds


# struct tcp_info (linux/tcp.h): tcpi_state, and tcpi_notsent_bytes (what the kernel
# still holds back).
_TCPI_NOTSENT_BYTES = 144
_TCP_ESTABLISHED = 1
_TCP_SYN_SENT = 2
_TCP_CLOSE_WAIT = 8


def _client_busy(sock: socket.socket, ports: set[int]) -> bool:
    """Whether this process's connection to a broker still has bytes to send or read.

    Linux delays ACKs by up to 40 ms, and the MQTT clients do not set TCP_NODELAY, so a
    small write may wait in the kernel for that ACK (Nagle), and a broker's write may
    wait for room in the congestion window. TCP_QUICKACK sends the pending ACK now (a
    loopback packet is delivered within the call), then the kernel tells what is
    still unsent (tcp_info) and what arrived but was not read (FIONREAD).
    """
    if sock.family != socket.AF_INET or sock.type != socket.SOCK_STREAM:
        return False
    try:
        if sock.getpeername()[1] not in ports:
            return False
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 192)
        unread = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return False  # not connected (any more): nothing of it is in flight
    state = info[0]
    if state in (_TCP_SYN_SENT, _TCP_CLOSE_WAIT):
        return True  # still connecting, or the broker closed it and we did not notice yet
    if state != _TCP_ESTABLISHED:
        return False  # we closed it
    (notsent,) = struct.unpack_from("I", info, _TCPI_NOTSENT_BYTES)
    (pending,) = struct.unpack("i", unread)
    return bool(notsent or pending)


def _backlog_empty() -> bool:
    """No packet waits in any CPU's network backlog (where loopback packets queue)."""
    with open("/proc/net/softnet_stat", encoding="ascii") as table:
        return all(int(row.split()[11], 16) == 0 for row in table)


# This process's socket descriptors, listed again whenever a broker ran since (a new
# connection to a broker cannot open without it accepting), or another broker runs.
_socket_fds: tuple[object, list[int]] = ((), [])


def _in_flight(brokers: list[MosquittoBroker], ran: tuple[int | None, ...]) -> bool:
    global _socket_fds  # noqa: PLW0603
    ports = {broker.port for broker in brokers} | {
        broker.tls_port for broker in brokers if broker.tls_cert
    }
    seen = (tuple(id(broker) for broker in brokers), ran)
    if _socket_fds[0] != seen:
        _socket_fds = (seen, _own_socket_fds())
    for fd in _socket_fds[1]:
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            continue  # closed meanwhile
        try:
            if _client_busy(sock, ports):
                return True
        finally:
            sock.detach()
    return not _backlog_empty()


def quiet_token() -> tuple[int, ...] | None:
    """Proof that no MQTT message is in flight through any running test broker, or None.

    Quiet means: every byte this process's clients wrote has left their kernel, none
    waits to be read, none is on its way through the loopback device, and every broker
    sleeps in epoll (so it has read and routed everything: a byte for it would have
    woken it). The token counts how often each broker ran: two equal tokens prove that
    no broker ran in between, so nothing passed through one meanwhile. The brokers and
    all their clients must run on this machine, the clients in this process (they do
    in the tests). Linux only (/proc, TCP_INFO).
    """
    before = wakeups()
    if None in before or _in_flight(list(_RUNNING), before):
        return None
    if wakeups() != before:
        return None  # it ran while the sockets were read: look again
    return tuple(count for count in before if count is not None)


def wakeups() -> tuple[int | None, ...]:
    """How often each running broker ran (None while awake): cheap, to see it woke up."""
    return tuple(
        broker._scheduler.runs_while_asleep()
        for broker in _RUNNING
        if broker._scheduler is not None
    )


def busy_brokers() -> list[str]:
    """The brokers that are not quiet (for an error message)."""
    return [f"{broker.host}:{broker.port}" for broker in _RUNNING]
