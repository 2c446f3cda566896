// One call: the LiveKit room, the agent's state, the transcript streams, order cards,
// escalation and the customer's controls. The page (page.ts) gives it a CallView to draw on.
import {
  ConnectionError,
  ConnectionErrorReason,
  DisconnectReason,
  Participant,
  ParticipantKind,
  type RemoteParticipant,
  type RemoteTrack,
  Room,
  RoomEvent,
  Track,
  type TextStreamReader,
} from "livekit-client";
import { type EscalationNotice, parseEscalationNotice } from "./escalation";
import { MESSAGES } from "./messages";
import { parseOrderCard, renderOrderCard } from "./orderCard";
import { CallSetupError, type CallGrant } from "./tokenClient";
import type { Speaker, Transcript } from "./transcript";

// Names the LiveKit Agents framework and this project use in the room.
const AGENT_STATE_ATTRIBUTE = "lk.agent.state";
const SEGMENT_ATTRIBUTE = "lk.segment_id";
const FINAL_ATTRIBUTE = "lk.transcription_final";
const TRANSCRIBED_TRACK_ATTRIBUTE = "lk.transcribed_track_id";
const TOPIC_TRANSCRIPTION = "lk.transcription";
const TOPIC_CHAT = "lk.chat";
const TOPIC_ORDER_CARD = "shopme.order-card";
const TOPIC_ESCALATION = "shopme.escalation";
const ROLE_ATTRIBUTE = "role";
const HUMAN_AGENT_ROLE = "human_agent";
const MAX_STREAM_CHARS = 20_000;

export interface CallView {
  transcript: Transcript;
  audioContainer: HTMLElement;
  showError(message: string): void;
  agentState(state: string): void;
  microphone(muted: boolean, available: boolean): void;
  escalation(notice: EscalationNotice): void;
  personJoined(name: string): void;
  ended(reasonText: string | null): void;
}

function isAgent(participant: Participant): boolean {
  return participant.kind === ParticipantKind.AGENT || AGENT_STATE_ATTRIBUTE in participant.attributes;
}

function isDeskPerson(participant: Participant): boolean {
  return participant.attributes[ROLE_ATTRIBUTE] === HUMAN_AGENT_ROLE;
}

function personName(participant: Participant): string {
  return participant.name?.trim() || "A colleague";
}

export class Call {
  private readonly room: Room;
  private agentIdentity: string | null = null;
  private readonly peopleJoined = new Set<string>();
  private agentTimer: number | undefined;
  private hangingUp = false;
  private finished = false;
  private micAvailable = false;
  private muted = false;

  constructor(
    private readonly grant: CallGrant,
    private readonly view: CallView,
  ) {
    // Two peer connections (publisher and subscriber): what every LiveKit server version speaks.
    this.room = new Room({ singlePeerConnection: false, disconnectOnPageLeave: true });
    this.listen();
  }

  async connect(): Promise<void> {
    try {
      await this.room.connect(this.grant.serverUrl, this.grant.token);
    } catch (problem) {
      throw new CallSetupError(connectFailure(problem));
    }
    // The click that started the call lets the page play the agent's voice.
    await this.room.startAudio().catch(() => undefined);
    for (const participant of this.room.remoteParticipants.values()) this.participantArrived(participant);
    if (this.agentIdentity === null) this.startAgentTimer();
  }

  async startMicrophone(): Promise<void> {
    try {
      await this.room.localParticipant.setMicrophoneEnabled(true);
      this.micAvailable = true;
    } catch (problem) {
      this.micAvailable = false;
      this.view.showError(microphoneFailure(problem));
    }
    this.view.microphone(this.muted, this.micAvailable);
  }

  async toggleMute(): Promise<void> {
    if (!this.micAvailable) return;
    const muted = !this.muted;
    try {
      await this.room.localParticipant.setMicrophoneEnabled(!muted);
      this.muted = muted;
    } catch (problem) {
      this.view.showError(microphoneFailure(problem));
    }
    this.view.microphone(this.muted, this.micAvailable);
  }

  async sendChat(text: string): Promise<void> {
    this.view.transcript.addLine("customer", "You (typed)", text);
    try {
      await this.room.localParticipant.sendText(text, { topic: TOPIC_CHAT });
    } catch {
      this.view.showError(MESSAGES.sendFailed);
    }
  }

  async hangUp(): Promise<void> {
    this.hangingUp = true;
    await this.room.disconnect();
    this.finish(null);
  }

  private finish(reasonText: string | null): void {
    if (this.finished) return;
    this.finished = true;
    window.clearTimeout(this.agentTimer);
    this.view.audioContainer.replaceChildren();
    this.view.ended(reasonText);
  }

  private startAgentTimer(): void {
    const seconds = this.grant.agentJoinTimeoutS;
    this.agentTimer = window.setTimeout(() => {
      if (this.agentIdentity !== null || this.finished) return;
      this.view.showError(MESSAGES.agentNeverJoined(seconds));
      this.view.agentState("left");
    }, seconds * 1000);
  }

  private listen(): void {
    const room = this.room;
    room
      .on(RoomEvent.ParticipantConnected, (participant) => this.participantArrived(participant))
      .on(RoomEvent.ParticipantDisconnected, (participant) => this.participantLeft(participant))
      .on(RoomEvent.ParticipantAttributesChanged, (_changed, participant) => {
        if (participant !== room.localParticipant) this.participantArrived(participant as RemoteParticipant);
      })
      .on(RoomEvent.TrackSubscribed, (track: RemoteTrack) => {
        if (track.kind === Track.Kind.Audio) this.view.audioContainer.append(track.attach());
      })
      .on(RoomEvent.TrackUnsubscribed, (track: RemoteTrack) => {
        track.detach().forEach((element) => element.remove());
      })
      .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => {
        if (this.hangingUp) return;
        const text = reason === DisconnectReason.CLIENT_INITIATED ? null : MESSAGES.disconnected;
        if (text) this.view.showError(text);
        this.finish(text);
      });

    room.registerTextStreamHandler(TOPIC_TRANSCRIPTION, (reader, sender) => {
      void this.readTranscription(reader, sender.identity);
    });
    room.registerTextStreamHandler(TOPIC_ORDER_CARD, (reader, sender) => {
      void this.readFromAgent(reader, sender.identity, (text) => {
        const card = parseOrderCard(text);
        if (card) this.view.transcript.addElement(renderOrderCard(card));
      });
    });
    room.registerTextStreamHandler(TOPIC_ESCALATION, (reader, sender) => {
      void this.readFromAgent(reader, sender.identity, (text) => {
        const notice = parseEscalationNotice(text);
        if (notice) this.view.escalation(notice);
      });
    });
  }

  private participantArrived(participant: RemoteParticipant): void {
    if (isDeskPerson(participant)) {
      if (!this.peopleJoined.has(participant.identity)) {
        this.peopleJoined.add(participant.identity);
        this.view.personJoined(personName(participant));
        this.view.transcript.addNotice(`${personName(participant)} joined the call.`);
      }
      return;
    }
    if (!isAgent(participant)) return;
    if (this.agentIdentity === null) {
      this.agentIdentity = participant.identity;
      window.clearTimeout(this.agentTimer);
    }
    if (participant.identity === this.agentIdentity) {
      this.view.agentState(participant.attributes[AGENT_STATE_ATTRIBUTE] ?? "initializing");
    }
  }

  private participantLeft(participant: RemoteParticipant): void {
    if (participant.identity === this.agentIdentity) {
      this.view.agentState("left");
      if (this.peopleJoined.size === 0) this.view.transcript.addNotice(MESSAGES.assistantLeft);
    } else if (this.peopleJoined.has(participant.identity)) {
      this.view.transcript.addNotice(`${personName(participant)} left the call.`);
    }
  }

  private speakerOf(identity: string, trackId: string | undefined): { speaker: Speaker; who: string } {
    // The agent publishes the caller's words on the caller's behalf: the transcribed track (the
    // caller's microphone) tells whose words they are, whoever relayed them.
    const local = this.room.localParticipant;
    if (identity === local.identity || (trackId && local.trackPublications.has(trackId))) {
      return { speaker: "customer", who: "You" };
    }
    const participant = this.room.remoteParticipants.get(identity);
    if (participant && isDeskPerson(participant)) return { speaker: "person", who: personName(participant) };
    return { speaker: "agent", who: "ShopMe assistant" };
  }

  private async readTranscription(reader: TextStreamReader, senderIdentity: string): Promise<void> {
    const attributes = reader.info.attributes ?? {};
    const segment = attributes[SEGMENT_ATTRIBUTE] ?? reader.info.id;
    const { speaker, who } = this.speakerOf(senderIdentity, attributes[TRANSCRIBED_TRACK_ATTRIBUTE]);
    // The agent streams its words as they come (one stream per segment); the caller's words come
    // as whole interim texts, one stream each. Either way a stream holds the segment's text so far.
    let text = "";
    try {
      for await (const chunk of reader) {
        text = (text + chunk).slice(0, MAX_STREAM_CHARS);
        if (text.trim()) this.view.transcript.showSegment(segment, speaker, who, text, false);
      }
    } catch {
      // A stream cut short keeps what arrived.
    }
    const final = reader.info.attributes?.[FINAL_ATTRIBUTE] === "true";
    if (text.trim()) this.view.transcript.showSegment(segment, speaker, who, text, final);
  }

  private async readFromAgent(
    reader: TextStreamReader,
    senderIdentity: string,
    handle: (text: string) => void,
  ): Promise<void> {
    // Cards and notices count only from the agent: no other participant can fake one.
    const sender = this.room.remoteParticipants.get(senderIdentity);
    if (!sender || !isAgent(sender)) return;
    try {
      const text = await reader.readAll();
      if (text.length <= MAX_STREAM_CHARS) handle(text);
    } catch {
      // Incomplete: nothing is shown rather than half a card.
    }
  }
}

function connectFailure(problem: unknown): string {
  if (problem instanceof ConnectionError) {
    if (problem.reason === ConnectionErrorReason.NotAllowed) return MESSAGES.voiceRefused;
  }
  return MESSAGES.voiceUnreachable;
}

function microphoneFailure(problem: unknown): string {
  const name = problem instanceof Error ? problem.name : "";
  if (name === "NotAllowedError" || name === "SecurityError") return MESSAGES.micDenied;
  if (name === "NotFoundError" || name === "OverconstrainedError") return MESSAGES.micMissing;
  return MESSAGES.micFailed;
}
