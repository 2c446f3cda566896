"""A stand-in for livekit.rtc.Room with the surface the project uses, for tests without a server:
`name`, `remote_participants`, room events, and a local participant that records text streams."""

from __future__ import annotations

from types import SimpleNamespace

from livekit import rtc


class FakeLocalParticipant:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict] = []
        self.fail = fail

    async def send_text(self, text: str, *, topic: str, destination_identities: list[str]):
        if self.fail:
            raise ConnectionError("data channel closed")
        self.sent.append({"text": text, "topic": topic, "to": destination_identities})


class FakeRoom(rtc.EventEmitter):
    def __init__(self, name: str = "call-123", *, fail_sends: bool = False) -> None:
        super().__init__()
        self.name = name
        self.remote_participants: dict[str, SimpleNamespace] = {}
        self.local_participant = FakeLocalParticipant(fail_sends)

    def join(self, participant: SimpleNamespace) -> None:
        self.remote_participants[participant.identity] = participant
        self.emit("participant_connected", participant)

    def set_attributes(self, participant: SimpleNamespace, attributes: dict[str, str]) -> None:
        participant.attributes = {**participant.attributes, **attributes}
        self.emit("participant_attributes_changed", attributes, participant)

    def listener_count(self) -> int:
        return sum(len(callbacks) for callbacks in self._events.values())
