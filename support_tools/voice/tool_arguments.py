"""Strict reading of a tool call's arguments, as the model sent them. No livekit import.

livekit-agents parses tool-call arguments leniently (it repairs truncated or broken JSON with
`json_repair`, then validates with pydantic, which turns `true` into 1 and refuses a number where
text is declared). A support agent must not act on half an instruction, so the raw text the model
sent is checked here first: one complete JSON object, only the tool's own parameter names, every
required one present. The values themselves are checked by the domain (support_tools/domain/),
which coerces only where it is unambiguous.

Every refusal is one of the sentences below: it tells the model what to do, and never repeats the
arguments (they may hold personal data, and a library's error text is no use to a caller).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ArgumentsRefused(Exception):
    """The arguments cannot be used; `message` is a sentence for the model."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ToolParameters:
    """The parameters a tool takes: required names, and optional names with their defaults."""

    tool: str
    required: tuple[str, ...]
    defaults: Mapping[str, Any]

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.required, *self.defaults)


def not_one_json_object(tool: str) -> str:
    return (
        f"The arguments for {tool} were cut off or were not valid JSON, so nothing was done. "
        f"Call {tool} again with all its arguments in one complete JSON object."
    )


def _unknown_names(params: ToolParameters) -> str:
    return (
        f"The call to {params.tool} had an argument it does not take, so nothing was done. "
        f"Use only these: {', '.join(params.names)}."
    )


def _missing_names(params: ToolParameters, missing: list[str]) -> str:
    return (
        f"The call to {params.tool} needs {' and '.join(missing)}, so nothing was done. Ask the caller for "
        f"{'it' if len(missing) == 1 else 'them'}, then call {params.tool} again."
    )


class _DuplicateName(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateName(key)  # which of the two did the model mean?
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON


def read_arguments(params: ToolParameters, raw: object) -> dict[str, Any]:
    """The arguments of one call as keyword arguments for the tool, or `ArgumentsRefused`.

    `null` for an optional parameter means its default; for a required one, that it is missing.
    """
    if not isinstance(raw, str):
        raise ArgumentsRefused(not_one_json_object(params.tool))
    try:
        value = json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise ArgumentsRefused(not_one_json_object(params.tool)) from None
    if not isinstance(value, dict):
        raise ArgumentsRefused(not_one_json_object(params.tool))
    if any(name not in params.names for name in value):
        raise ArgumentsRefused(_unknown_names(params))
    missing = [name for name in params.required if value.get(name) is None]
    if missing:
        raise ArgumentsRefused(_missing_names(params, missing))
    arguments = {name: value[name] for name in params.required}
    for name, default in params.defaults.items():
        given = value.get(name)
        arguments[name] = default if given is None else given
    return arguments


def is_one_json_object(raw: object) -> bool:
    """True when `raw` is one complete JSON object (what the framework may use as is)."""
    try:
        return isinstance(raw, str) and isinstance(
            json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constants), dict
        )
    except (ValueError, RecursionError):
        return False
