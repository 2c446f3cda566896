"""One typed settings object, read from the environment (and `.env`, loaded by the caller).

Every problem is reported as a `ConfigError` naming the variable and how to fix it; values of
secrets never appear in messages, reprs or logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///shopme.db"
DEFAULT_AGENT_NAME = "shopme-support"
DEFAULT_WEB_PORT = 8080
SUPPORTED_DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")

# Worker capacity, from bench/bench_room_capacity.py on the 2-core development machine (README,
# "Run it in a cluster"): calls a worker takes before it reports itself full to LiveKit.
DEFAULT_MAX_SESSIONS = 14
DEFAULT_DRAIN_TIMEOUT_S = 900  # a support call rarely runs longer; Kubernetes grace period is above
DEFAULT_IDLE_PROCESSES = 2  # warm job processes; livekit-agents' default is the host's core count
DEFAULT_JOB_MEMORY_WARN_MB = 400  # about 2.5x a measured job process
DEFAULT_JOB_MEMORY_LIMIT_MB = 1000  # a job process past this is killed, so it cannot starve its neighbours


# Long calls (bench/bench_turn.py): about 50 turns with a tool call each, 100 without; what the
# plugin replays into a new connection after a dropped socket.
DEFAULT_HISTORY_ITEMS = 200


class ConfigError(Exception):
    """A setting is missing or malformed. `str()` is one line fit to print to the user."""

    def __init__(self, variable: str, problem: str, fix: str) -> None:
        super().__init__(f"{variable} {problem}: {fix}")
        self.variable, self.problem, self.fix = variable, problem, fix


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker presents itself to LiveKit: capacity, drain, processes, ports."""

    max_sessions: int = DEFAULT_MAX_SESSIONS
    # None: livekit-agents' own default (8081 in `start`, a free port in `dev`).
    health_port: int | None = None
    metrics_port: int | None = None  # None: no metrics endpoint
    drain_timeout_s: int = DEFAULT_DRAIN_TIMEOUT_S
    # None: livekit-agents' dev default (none) in `dev`, DEFAULT_IDLE_PROCESSES in `start`.
    idle_processes: int | None = None
    job_memory_warn_mb: int = DEFAULT_JOB_MEMORY_WARN_MB
    job_memory_limit_mb: int = DEFAULT_JOB_MEMORY_LIMIT_MB  # 0: no limit


@dataclass(frozen=True)
class Settings:
    azure_api_key: str = field(repr=False)
    azure_endpoint: str
    azure_deployment: str
    voice: str = "marin"
    language: str | None = None  # None: answer in the caller's language
    shop_name: str = "ShopMe"
    agent_name: str = DEFAULT_AGENT_NAME
    livekit_url: str | None = None
    livekit_api_key: str | None = field(default=None, repr=False)
    livekit_api_secret: str | None = field(default=None, repr=False)
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    return_window_days: int = 30
    support_timezone: str = "Asia/Kolkata"
    support_hours_start: time = time(9, 0)
    support_hours_end: time = time(21, 0)
    escalation_webhook_url: str | None = field(default=None, repr=False)  # may embed a credential
    escalation_webhook_secret: str | None = field(default=None, repr=False)
    support_desk_url: str | None = field(default=None, repr=False)
    escalation_timeout_s: float = 120.0
    escalation_sip_transfer_to: str | None = None
    # A second Azure region for the realtime model; key and deployment default to the primary's.
    azure_fallback_endpoint: str | None = None
    azure_fallback_deployment: str | None = None
    azure_fallback_api_key: str | None = field(default=None, repr=False)
    # Verification throttling across sessions and workers (counted in the store).
    verify_max_failures: int = 5
    verify_failure_window_min: int = 30
    verify_lock_min: int = 30
    # Append-only files holding each conversation record until it is in the store.
    spool_dir: str = "spool"
    # Conversation items the worker keeps in memory (the realtime server keeps them all): the
    # window a long call's per-turn work and memory stay within (voice/history_window.py).
    history_items: int = DEFAULT_HISTORY_ITEMS
    worker: WorkerSettings = field(default_factory=WorkerSettings)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.support_timezone)


def _clean(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _required(env: Mapping[str, str], name: str, fix: str) -> str:
    value = _clean(env, name)
    if value is None:
        raise ConfigError(name, "is not set", f"{fix} (in .env, see .env.example, or the environment)")
    return value


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...], fix: str) -> str | None:
    value = _clean(env, name)
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.hostname:
        # The value itself is not echoed: an endpoint may carry credentials.
        raise ConfigError(name, "is not a valid URL", fix)
    return value


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    value = _clean(env, name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not (low <= number <= high):
        raise ConfigError(name, "is not a valid number", f"set a number from {low:g} to {high:g}")
    return number


def _whole_number(env: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    value = _clean(env, name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
        raise ConfigError(name, "is not a valid whole number", f"set a whole number from {low} to {high}")
    return int(value)


def load_worker_settings(env: Mapping[str, str] | None = None) -> WorkerSettings:
    """The worker's capacity, drain and port settings (no other setting is needed to read them)."""
    env = os.environ if env is None else env
    health_port = _whole_number(env, "SHOPME_HEALTH_PORT", None, 1, 65535)
    metrics_port = _whole_number(env, "SHOPME_METRICS_PORT", None, 1, 65535)
    if metrics_port is not None and metrics_port == (health_port or 8081):
        raise ConfigError(
            "SHOPME_METRICS_PORT", "is the worker's health port", "pick a port other than SHOPME_HEALTH_PORT"
        )
    warn_mb = _whole_number(env, "SHOPME_JOB_MEMORY_WARN_MB", DEFAULT_JOB_MEMORY_WARN_MB, 50, 65536)
    limit_mb = _whole_number(env, "SHOPME_JOB_MEMORY_LIMIT_MB", DEFAULT_JOB_MEMORY_LIMIT_MB, 0, 65536)
    if limit_mb and limit_mb <= warn_mb:
        raise ConfigError(
            "SHOPME_JOB_MEMORY_LIMIT_MB",
            "is not above SHOPME_JOB_MEMORY_WARN_MB",
            "set a limit above the warning level, or 0 for no limit",
        )
    return WorkerSettings(
        max_sessions=_whole_number(env, "SHOPME_MAX_SESSIONS", DEFAULT_MAX_SESSIONS, 1, 1000),
        health_port=health_port,
        metrics_port=metrics_port,
        drain_timeout_s=_whole_number(env, "SHOPME_DRAIN_TIMEOUT_S", DEFAULT_DRAIN_TIMEOUT_S, 1, 86400),
        idle_processes=_whole_number(env, "SHOPME_IDLE_PROCESSES", None, 0, 64),
        job_memory_warn_mb=warn_mb,
        job_memory_limit_mb=limit_mb,
    )


def _clock(env: Mapping[str, str], name: str, default: time) -> time:
    value = _clean(env, name)
    if value is None:
        return default
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ConfigError(name, "is not a valid time of day", "use HH:MM, for example 09:00") from None


def load_settings(env: Mapping[str, str] | None = None, *, need_livekit: bool = False) -> Settings:
    """Read and validate every setting. `need_livekit` is true for `dev` and `start`."""
    env = os.environ if env is None else env

    if _clean(env, "OPENAI_API_VERSION") is not None:
        # The plugin would silently switch to the deprecated legacy URL and session format.
        raise ConfigError(
            "OPENAI_API_VERSION",
            "is set",
            "remove it (from .env too): this agent speaks the GA realtime API, which takes no api-version",
        )
    api_key = _required(env, "AZURE_OPENAI_API_KEY", "set it to the key of your Azure OpenAI resource")
    endpoint = _required(
        env, "AZURE_OPENAI_ENDPOINT", "set it to https://<resource>.openai.azure.com"
    )
    _url(env, "AZURE_OPENAI_ENDPOINT", ("https", "http"), "use https://<resource>.openai.azure.com")
    deployment = _required(
        env, "AZURE_OPENAI_DEPLOYMENT", "set it to the name of your realtime model deployment"
    )
    if any(ch.isspace() or ch in "/?#&" for ch in deployment):
        raise ConfigError(
            "AZURE_OPENAI_DEPLOYMENT", "is not a valid deployment name", "use the name shown in Azure"
        )

    livekit_url = _url(
        env, "LIVEKIT_URL", ("ws", "wss", "http", "https"), "use ws://127.0.0.1:7880 or wss://<host>"
    )
    livekit_key = _clean(env, "LIVEKIT_API_KEY")
    livekit_secret = _clean(env, "LIVEKIT_API_SECRET")
    if need_livekit:
        if livekit_url is None:
            raise ConfigError("LIVEKIT_URL", "is not set", "set it to your LiveKit server, e.g. ws://127.0.0.1:7880")
        if livekit_key is None:
            raise ConfigError("LIVEKIT_API_KEY", "is not set", "set it to a key from livekit.yaml")
        if livekit_secret is None:
            raise ConfigError("LIVEKIT_API_SECRET", "is not set", "set it to that key's secret from livekit.yaml")

    database_url = _clean(env, "DATABASE_URL") or DEFAULT_DATABASE_URL
    if database_url.split("://", 1)[0] not in SUPPORTED_DATABASE_SCHEMES or "://" not in database_url:
        raise ConfigError(
            "DATABASE_URL",
            "is not a supported database URL",
            "use sqlite+aiosqlite:///shopme.db or postgresql+asyncpg://user:pass@host/db",
        )

    language = _clean(env, "SHOPME_LANGUAGE")
    if language is not None and language.lower() in ("auto", "caller"):
        language = None

    timezone = _clean(env, "SUPPORT_TIMEZONE") or "Asia/Kolkata"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("SUPPORT_TIMEZONE", "is not a known time zone", "use an IANA name such as Asia/Kolkata") from None

    hours_start = _clock(env, "SUPPORT_HOURS_START", time(9, 0))
    hours_end = _clock(env, "SUPPORT_HOURS_END", time(21, 0))
    if hours_end <= hours_start:
        raise ConfigError("SUPPORT_HOURS_END", "is not after SUPPORT_HOURS_START", "set an end later than the start")

    webhook_url = _url(env, "ESCALATION_WEBHOOK_URL", ("http", "https"), "use http(s)://host/path")
    webhook_secret = _clean(env, "ESCALATION_WEBHOOK_SECRET")
    if webhook_url and not webhook_secret:
        raise ConfigError(
            "ESCALATION_WEBHOOK_SECRET", "is not set", "set a shared secret to sign escalation webhooks"
        )

    fallback_endpoint = _url(
        env, "AZURE_OPENAI_FALLBACK_ENDPOINT", ("https", "http"), "use https://<resource>.openai.azure.com"
    )
    fallback_deployment = _clean(env, "AZURE_OPENAI_FALLBACK_DEPLOYMENT")
    if fallback_deployment is not None and any(ch.isspace() or ch in "/?#&" for ch in fallback_deployment):
        raise ConfigError(
            "AZURE_OPENAI_FALLBACK_DEPLOYMENT", "is not a valid deployment name", "use the name shown in Azure"
        )
    for name in ("AZURE_OPENAI_FALLBACK_DEPLOYMENT", "AZURE_OPENAI_FALLBACK_API_KEY"):
        if _clean(env, name) is not None and fallback_endpoint is None:
            raise ConfigError(name, "is set without AZURE_OPENAI_FALLBACK_ENDPOINT", "set the fallback endpoint too, or remove it")

    spool_dir = _clean(env, "SHOPME_SPOOL_DIR") or "spool"
    if "\0" in spool_dir:
        raise ConfigError("SHOPME_SPOOL_DIR", "is not a valid directory name", "use a path such as /var/lib/shopme/spool")

    return Settings(
        azure_api_key=api_key,
        azure_endpoint=endpoint,
        azure_deployment=deployment,
        voice=_clean(env, "SHOPME_VOICE") or "marin",
        language=language,
        shop_name=_clean(env, "SHOPME_SHOP_NAME") or "ShopMe",
        agent_name=_clean(env, "AGENT_NAME") or DEFAULT_AGENT_NAME,
        livekit_url=livekit_url,
        livekit_api_key=livekit_key,
        livekit_api_secret=livekit_secret,
        database_url=database_url,
        return_window_days=int(_number(env, "RETURN_WINDOW_DAYS", 30, 1, 365)),
        support_timezone=timezone,
        support_hours_start=hours_start,
        support_hours_end=hours_end,
        escalation_webhook_url=webhook_url,
        escalation_webhook_secret=webhook_secret,
        support_desk_url=_clean(env, "SUPPORT_DESK_URL"),
        escalation_timeout_s=_number(env, "ESCALATION_TIMEOUT_S", 120.0, 1, 3600),
        escalation_sip_transfer_to=_clean(env, "ESCALATION_SIP_TRANSFER_TO"),
        azure_fallback_endpoint=fallback_endpoint,
        azure_fallback_deployment=fallback_deployment,
        azure_fallback_api_key=_clean(env, "AZURE_OPENAI_FALLBACK_API_KEY"),
        verify_max_failures=_whole_number(env, "VERIFY_MAX_FAILURES", 5, 1, 100),
        verify_failure_window_min=_whole_number(env, "VERIFY_FAILURE_WINDOW_MIN", 30, 1, 1440),
        verify_lock_min=_whole_number(env, "VERIFY_LOCK_MIN", 30, 1, 1440),
        spool_dir=spool_dir,
        history_items=_whole_number(env, "SHOPME_HISTORY_ITEMS", DEFAULT_HISTORY_ITEMS, 20, 100_000),
        worker=load_worker_settings(env),
    )


@dataclass(frozen=True)
class WebSettings:
    """What the customer page's token endpoint (`python -m support_tools.web`) needs.

    It mints LiveKit tokens only: no Azure or database settings are read.
    """

    livekit_url: str
    livekit_api_key: str = field(repr=False)
    livekit_api_secret: str = field(repr=False)
    agent_name: str = DEFAULT_AGENT_NAME
    # The LiveKit URL as the customer's browser reaches it (may differ from the worker's).
    public_livekit_url: str = ""
    host: str = "127.0.0.1"
    port: int = DEFAULT_WEB_PORT
    tokens_per_minute: int = 10
    agent_join_timeout_s: float = 20.0

    @property
    def browser_livekit_url(self) -> str:
        return self.public_livekit_url or self.livekit_url


def load_web_settings(env: Mapping[str, str] | None = None) -> WebSettings:
    """Read and validate the token endpoint's settings (same variables as the worker's LiveKit ones)."""
    env = os.environ if env is None else env
    livekit_schemes = ("ws", "wss", "http", "https")
    livekit_url = _url(env, "LIVEKIT_URL", livekit_schemes, "use ws://127.0.0.1:7880 or wss://<host>")
    if livekit_url is None:
        raise ConfigError("LIVEKIT_URL", "is not set", "set it to your LiveKit server, e.g. ws://127.0.0.1:7880")
    public_url = _url(
        env, "SHOPME_WEB_LIVEKIT_URL", livekit_schemes, "use the LiveKit URL browsers reach, e.g. wss://<host>"
    )
    return WebSettings(
        livekit_url=livekit_url,
        livekit_api_key=_required(env, "LIVEKIT_API_KEY", "set it to a key from livekit.yaml"),
        livekit_api_secret=_required(env, "LIVEKIT_API_SECRET", "set it to that key's secret from livekit.yaml"),
        agent_name=_clean(env, "AGENT_NAME") or DEFAULT_AGENT_NAME,
        public_livekit_url=public_url or "",
        host=_clean(env, "SHOPME_WEB_HOST") or "127.0.0.1",
        port=int(_number(env, "SHOPME_WEB_PORT", DEFAULT_WEB_PORT, 1, 65535)),
        tokens_per_minute=int(_number(env, "SHOPME_WEB_TOKENS_PER_MINUTE", 10, 1, 600)),
        agent_join_timeout_s=_number(env, "SHOPME_WEB_AGENT_TIMEOUT_S", 20.0, 3, 300),
    )
