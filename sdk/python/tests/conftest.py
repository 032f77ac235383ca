"""Shared fixtures: the repository's vectors and the real server."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
VECTORS = REPO / "testdata" / "vectors"


def load_vectors(name: str) -> Any:
    """A vector file of testdata/vectors."""
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def sdk_vectors() -> Any:
    return load_vectors("sdk_v1.json")


def provlog_bin() -> str:
    return os.environ.get("PROVLOG_BIN") or str(Path.home() / ".cache/provlog/target/release/provlog")


@dataclass
class Server:
    """A running `provlog serve`."""

    url: str
    data: Path
    proc: subprocess.Popen[str]

    @property
    def log_vkey(self) -> str:
        return (self.data / "log.vkey").read_text(encoding="utf-8").strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(data: Path, *args: str) -> Server:
    """Starts the real binary and waits for its ``"ready":"log"`` line."""
    binary = provlog_bin()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"no provlog binary at {binary} (set PROVLOG_BIN)")
    env = dict(os.environ, RUST_LOG="warn")
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=30)
        except queue.Empty:
            proc.kill()
            pytest.fail("provlog did not become ready in 30 s")
        if line is None:
            pytest.fail(f"provlog exited ({proc.wait()}) before it was ready")
        if line.startswith("{"):
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("ready") == "log":
                return Server(str(msg["url"]), data, proc)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with the default configuration (a `dev` submitter of full scope)."""
    s = start_server(tmp_path_factory.mktemp("provlog") / "data")
    yield s
    s.stop()


class Proxy:
    """A local HTTP proxy to a server that can answer 503 first, or rewrite answers."""

    def __init__(self, upstream: str) -> None:
        import http.server

        import httpx

        self.upstream = upstream
        self.fail_next = 0
        self.retry_after: str | None = "0"
        self.rewrite: Callable[[str, bytes], bytes] | None = None
        self.requests: list[str] = []
        proxy = self
        client = httpx.Client(base_url=upstream, timeout=30)

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                proxy.requests.append(f"{self.command} {self.path}")
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else b""
                if proxy.fail_next > 0:
                    proxy.fail_next -= 1
                    msg = b'{"error":{"code":"overloaded","message":"try again"}}'
                    self.send_response(503)
                    if proxy.retry_after is not None:
                        self.send_header("Retry-After", proxy.retry_after)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                headers = {"content-type": self.headers.get("content-type", "application/json")}
                r = client.request(self.command, self.path, content=body, headers=headers)
                out = r.content
                if proxy.rewrite is not None:
                    out = proxy.rewrite(self.path, out)
                self.send_response(r.status_code)
                for k in ("content-type", "retry-after"):
                    if k in r.headers:
                        self.send_header(k, r.headers[k])
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = _handle
            do_POST = _handle

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def proxy(server: Server) -> Iterator[Proxy]:
    """A proxy in front of the module's server."""
    p = Proxy(server.url)
    yield p
    p.close()
