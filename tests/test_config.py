"""Bad configuration stops start-up with one clear line: the variable, how to fix it, no secret."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from support_tools.settings import ConfigError, load_settings

from .conftest import ROOT

SECRET = "s3cr3t-value-that-must-never-print"


def run_agent(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "LIVEKIT_"))}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "agent.py"), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_naming(result: subprocess.CompletedProcess[str], variable: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "variable", ["AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT"]
)
def test_missing_azure_variable_names_it(variable: str) -> None:
    env = {
        "AZURE_OPENAI_API_KEY": SECRET,
        "AZURE_OPENAI_ENDPOINT": "https://example-resource.openai.azure.com",
        "AZURE_OPENAI_DEPLOYMENT": "gpt-realtime",
    }
    del env[variable]
    assert_one_line_naming(run_agent(env, "console", "--text"), variable)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AZURE_OPENAI_ENDPOINT", f"ftp://{SECRET}.example"),
        ("AZURE_OPENAI_ENDPOINT", SECRET),
        ("AZURE_OPENAI_DEPLOYMENT", "two words"),
        ("DATABASE_URL", f"mysql://root:{SECRET}@127.0.0.1/shop"),
        ("RETURN_WINDOW_DAYS", "thirty"),
        ("SUPPORT_TIMEZONE", "Mars/Olympus"),
        ("SUPPORT_HOURS_START", "9am"),
        ("ESCALATION_TIMEOUT_S", "-5"),
        ("OPENAI_API_VERSION", "2024-10-01-preview"),
        ("ESCALATION_WEBHOOK_URL", "not a url"),
    ],
)
def test_malformed_variable_names_it(variable: str, value: str) -> None:
    env = {
        "AZURE_OPENAI_API_KEY": SECRET,
        "AZURE_OPENAI_ENDPOINT": "https://example-resource.openai.azure.com",
        "AZURE_OPENAI_DEPLOYMENT": "gpt-realtime",
        variable: value,
    }
    assert_one_line_naming(run_agent(env, "console", "--text"), variable)


@pytest.mark.parametrize("variable", ["LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"])
def test_worker_modes_need_livekit(variable: str) -> None:
    env = {
        "AZURE_OPENAI_API_KEY": SECRET,
        "AZURE_OPENAI_ENDPOINT": "https://example-resource.openai.azure.com",
        "AZURE_OPENAI_DEPLOYMENT": "gpt-realtime",
        "LIVEKIT_URL": "ws://127.0.0.1:7880",
        "LIVEKIT_API_KEY": "devkey",
        "LIVEKIT_API_SECRET": SECRET,
    }
    del env[variable]
    assert_one_line_naming(run_agent(env, "start"), variable)


@pytest.mark.parametrize(
    "command",
    [
        ("console", "--text"),  # the schema step runs in the worker process (its calls need the store)
        ("start",),  # it runs in a process of its own (the worker process never loads the store)
    ],
)
def test_unreachable_database_names_it_without_password(command: tuple[str, ...]) -> None:
    env = {
        "AZURE_OPENAI_API_KEY": "k",
        "AZURE_OPENAI_ENDPOINT": "https://example-resource.openai.azure.com",
        "AZURE_OPENAI_DEPLOYMENT": "gpt-realtime",
        "LIVEKIT_URL": "ws://127.0.0.1:9",
        "LIVEKIT_API_KEY": "devkey",
        "LIVEKIT_API_SECRET": SECRET,
        "SHOPME_WORKER_LAYOUT": "processes",
        # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        "DATABASE_URL": f"postgresql+asyncpg://shop:{SECRET}@127.0.0.1:9/shop",
    }
    assert_one_line_naming(run_agent(env, *command), "DATABASE_URL")


@pytest.mark.parametrize("stdout", ["", "Traceback (most recent call last)\n", '{"variable": 1}\n'])
def test_a_schema_process_that_exits_without_its_answer_is_still_one_config_error(
    monkeypatch: pytest.MonkeyPatch, stdout: str
) -> None:
    """Exit code 2 with no JSON answer (the interpreter's own usage error, say): still the one
    line naming DATABASE_URL, never a parsing traceback."""
    from support_tools.voice import startup

    def exits_2(args, **kwargs):
        return subprocess.CompletedProcess(args, 2, stdout=stdout)

    monkeypatch.setattr(startup.subprocess, "run", exits_2)
    with pytest.raises(ConfigError) as caught:
        startup.prepare_store_in_own_process("sqlite+aiosqlite:///shop.db")
    assert caught.value.variable == "DATABASE_URL" and "\n" not in str(caught.value)


def test_settings_repr_hides_secrets(base_env: dict[str, str]) -> None:
    env = {**base_env, "AZURE_OPENAI_API_KEY": SECRET, "LIVEKIT_API_SECRET": SECRET}
    settings = load_settings(env)
    assert SECRET not in repr(settings)
    assert settings.azure_api_key == SECRET


def test_defaults_are_usable(base_env: dict[str, str]) -> None:
    settings = load_settings(base_env)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.language is None  # answer in the caller's language
    assert settings.return_window_days == 30
    assert settings.agent_name == "shopme-support"


def test_config_error_is_one_line(base_env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**base_env, "AZURE_OPENAI_DEPLOYMENT": ""})
    assert "\n" not in str(caught.value)
    assert caught.value.variable == "AZURE_OPENAI_DEPLOYMENT"


def test_persona_answers_in_the_callers_language_unless_one_is_fixed(base_env) -> None:
    from support_tools.voice.prompts import greeting_instructions, system_instructions

    default = system_instructions(load_settings(base_env))
    assert "language the caller speaks" in default
    assert "ShopMe" in default and "$" not in default

    fixed = load_settings({**base_env, "SHOPME_LANGUAGE": "Hindi", "SHOPME_SHOP_NAME": "DesiMart"})
    instructions = system_instructions(fixed)
    assert "Always answer in Hindi" in instructions
    assert "DesiMart" in instructions and "DesiMart" in greeting_instructions(fixed)
