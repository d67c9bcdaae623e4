"""A real mosquitto broker process on a free loopback port, for tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    _process: subprocess.Popen[bytes] | None = None
    _workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mosq-")))

    def _write_config(self) -> Path:
        lines = [
            f"listener {self.port} {self.host}",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "user root",
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
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
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
