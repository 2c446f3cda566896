"""`python -m support_tools.web` as a child process on a free loopback port, for browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support_tools.web.app import DEFAULT_STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_built_page() -> None:
    """The tests drive the page built from the current sources, never a stale bundle."""
    built = DEFAULT_STATIC_DIR / "index.html"
    if not built.is_file():
        raise RuntimeError("web/dist is not built: run `make web-build` (make test builds it)")
    sources = [ROOT / "web" / "index.html", *(ROOT / "web" / "src").iterdir()]
    if any(source.stat().st_mtime > built.stat().st_mtime for source in sources):
        raise RuntimeError("web/dist is older than web/src: run `make web-build` (make test does)")


@contextmanager
def token_endpoint(
    *, livekit_url: str, api_key: str, api_secret: str, log_path: Path, **extra_env: str
) -> Iterator[str]:
    """Run the real command; yields the page's base URL. The child's output goes to `log_path`."""
    require_built_page()
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SHOPME_ENV_FILE": str(ROOT / "tests" / "no-such.env"),
        "LIVEKIT_URL": livekit_url,
        "LIVEKIT_API_KEY": api_key,
        "LIVEKIT_API_SECRET": api_secret,
        "SHOPME_WEB_HOST": "127.0.0.1",
        "SHOPME_WEB_PORT": str(port),
        **extra_env,
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "support_tools.web"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            _wait_for_port(port, child)
            yield f"http://127.0.0.1:{port}"
        finally:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _wait_for_port(port: int, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the token endpoint exited with {child.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("the token endpoint did not start listening")
