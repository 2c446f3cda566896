"""Renders the system prompt and greeting from the text files in `prompts/`."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Template

from ..settings import Settings

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


@cache
def _template(name: str) -> Template:
    return Template((PROMPTS_DIR / name).read_text(encoding="utf-8"))


def language_rule(language: str | None) -> str:
    if language is None:
        return (
            "Answer in the language the caller speaks, and switch when they switch. "
            "Keep order numbers and codes in digits and Latin letters."
        )
    return f"Always answer in {language}, whatever language the caller uses."


def system_instructions(settings: Settings) -> str:
    return _template("system.md").substitute(
        shop_name=settings.shop_name, language_rule=language_rule(settings.language)
    )


def greeting_instructions(settings: Settings) -> str:
    return _template("greeting.md").substitute(shop_name=settings.shop_name)
