"""`@strict_tool`: a function tool whose arguments are read strictly (voice/tool_arguments.py).

Written like a `@function_tool` (typed parameters and an `Args:` docstring, from which the model
gets exactly the schema it got before), but registered as a raw tool, so the framework hands the
arguments over untouched: no pydantic coercion (`true` -> 1), no pydantic refusal text. The
arguments are read from the text the model sent (kept by the model, voice/model.py), not from
the framework's repaired copy.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from livekit.agents import RunContext, ToolError, function_tool
from livekit.agents.llm import RawFunctionTool
from livekit.agents.llm.utils import build_legacy_openai_schema, is_context_type

from ..tool_arguments import ArgumentsRefused, ToolParameters, read_arguments


def _parameters(name: str, func: Callable[..., Any]) -> ToolParameters:
    required: list[str] = []
    defaults: dict[str, Any] = {}
    hints = inspect.get_annotations(func, eval_str=True)
    for param in inspect.signature(func).parameters.values():
        if is_context_type(hints.get(param.name), allow_subclasses=True):
            continue
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
        else:
            defaults[param.name] = param.default
    return ToolParameters(name, tuple(required), defaults)


def raw_arguments_of(context: RunContext[Any]) -> str:
    """What the model sent for this call; the framework's copy when the model kept none."""
    call = context.function_call
    kept = getattr(context.session.llm, "raw_tool_arguments", None)
    raw = kept.get(call.call_id) if kept is not None else None
    return raw if raw is not None else (call.arguments or "")


def strict_tool(func: Callable[..., Awaitable[str]]) -> RawFunctionTool:
    schema = build_legacy_openai_schema(function_tool(func), internally_tagged=True)
    schema.pop("type", None)
    params = _parameters(schema["name"], func)

    async def call_with_checked_arguments(raw_arguments: dict[str, object], context: RunContext) -> str:
        try:
            arguments = read_arguments(params, raw_arguments_of(context))
        except ArgumentsRefused as refusal:
            raise ToolError(refusal.message) from None
        return await func(context, **arguments)

    call_with_checked_arguments.__name__ = func.__name__
    call_with_checked_arguments.__doc__ = func.__doc__
    tool = function_tool(call_with_checked_arguments, raw_schema=schema)
    tool.parameters = params  # type: ignore[attr-defined]  # for tests and fuzzing
    return tool

