"""The files a newcomer starts from agree with each other and with the settings the code reads."""

from __future__ import annotations

import re

import yaml
from dotenv import dotenv_values

from support_tools.settings import load_settings

from .conftest import ROOT


def env_example() -> dict[str, str]:
    values = dotenv_values(ROOT / ".env.example")
    # Inline comments after a value are documentation, not part of the value.
    return {k: (v or "").split("#", 1)[0].strip() for k, v in values.items()}


def test_livekit_server_config_has_the_key_pair_of_env_example() -> None:
    config = yaml.safe_load((ROOT / "livekit.yaml").read_text())
    example = env_example()
    assert config["keys"][example["LIVEKIT_API_KEY"]] == example["LIVEKIT_API_SECRET"]
    # The local server listens where LIVEKIT_URL points.
    assert example["LIVEKIT_URL"] == f"ws://127.0.0.1:{config['port']}"
    assert config["bind_addresses"] == ["127.0.0.1"]


def test_env_example_documents_every_variable_the_settings_read() -> None:
    source = (ROOT / "support_tools" / "settings.py").read_text()
    read = set(re.findall(r'env, "([A-Z][A-Z0-9_]+)"', source))
    read |= set(re.findall(r'ConfigError\(\s*"([A-Z][A-Z0-9_]+)"', source))
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    documented |= {"OPENAI_API_VERSION"}  # documented as "do not set"
    assert read - documented == set()


def test_env_example_filled_in_is_a_valid_configuration() -> None:
    example = env_example()
    example.update(
        AZURE_OPENAI_API_KEY="key",
        AZURE_OPENAI_ENDPOINT="https://res.openai.azure.com",
        AZURE_OPENAI_DEPLOYMENT="gpt-realtime",
    )
    settings = load_settings({k: v for k, v in example.items() if v}, need_livekit=True)
    assert settings.livekit_api_key == "shopme-dev"
