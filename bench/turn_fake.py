"""The fake Azure realtime service for bench/bench_turn.py, in its own process.

The project's protocol-faithful fake (tests/fake_azure), answering every turn of a long call the
same way, so the worker's process holds only the worker: a caller's message gets a
`get_order_status` call, the tool's output gets a spoken answer, anything else (the greeting) a
short message. It keeps the conversation as the real service does, but not the test-assertion
copies of every event sent and received (they would grow with the call, in this process only).

On stdout: `port <n>` once the fake listens. Runs until stdin closes.

    .venv/bin/python bench/turn_fake.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fake_azure import FakeAzureRealtime  # noqa: E402
from tests.fake_azure.script import Say, ScriptedResponse, ToolCall  # noqa: E402

ORDER = "482913"
API_KEY = "bench-key"  # bench_turn.py passes the same to its workers


class LongCallFake(FakeAzureRealtime):
    def next_response_for(self, connection: Any, request: dict[str, Any]) -> ScriptedResponse:
        last = connection.items[-1] if connection.items else {}
        if last.get("type") == "function_call_output":
            return ScriptedResponse((Say("It has shipped."),))
        if last.get("type") == "message" and last.get("role") == "user":
            return ScriptedResponse((ToolCall("get_order_status", {"order_number": ORDER}),))
        return ScriptedResponse((Say("Hello."),))

    def _record_client(self, connection: Any, event: dict[str, Any]) -> None:
        connection.events.clear()  # the connection's own copy of every client event
        self._notify()

    def _record_server(self, connection: Any, event: dict[str, Any]) -> None:
        self._notify()


async def main() -> None:
    async with LongCallFake(api_key=API_KEY) as fake:
        print(f"port {fake.port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
