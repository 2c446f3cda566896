// Wires the page's controls to one call at a time (see call.ts).
import { Call, type CallView } from "./call";
import { type EscalationNotice, describeStep } from "./escalation";
import { CallSetupError, requestCallGrant, type TokenBody } from "./tokenClient";
import { Transcript } from "./transcript";

type Phase = "idle" | "connecting" | "in-call" | "ended";

function byId<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`page element #${id} is missing`);
  return node as T;
}

const AGENT_STATE_LABELS: Record<string, string> = {
  connecting: "connecting…",
  initializing: "getting ready…",
  idle: "ready",
  listening: "listening",
  thinking: "thinking…",
  speaking: "speaking",
  left: "left the call",
};

function setUp(): void {
  const app = byId<HTMLElement>("app");
  const error = byId<HTMLDivElement>("error");
  const start = byId<HTMLElement>("start");
  const startForm = byId<HTMLFormElement>("start-form");
  const startButton = byId<HTMLButtonElement>("start-button");
  const nameInput = byId<HTMLInputElement>("name-input");
  const usernameInput = byId<HTMLInputElement>("username-input");
  const passwordInput = byId<HTMLInputElement>("password-input");
  const callSection = byId<HTMLElement>("call");
  const agentState = byId<HTMLElement>("agent-state");
  const escalation = byId<HTMLElement>("escalation");
  const ticketNumber = byId<HTMLElement>("ticket-number");
  const escalationStatus = byId<HTMLElement>("escalation-status");
  const chatForm = byId<HTMLFormElement>("chat-form");
  const chatInput = byId<HTMLInputElement>("chat-input");
  const muteButton = byId<HTMLButtonElement>("mute-button");
  const hangupButton = byId<HTMLButtonElement>("hangup-button");
  const ended = byId<HTMLElement>("ended");
  const endedText = byId<HTMLElement>("ended-text");
  const againButton = byId<HTMLButtonElement>("again-button");
  const audio = byId<HTMLElement>("audio");
  const transcript = new Transcript(byId<HTMLOListElement>("transcript"));

  let call: Call | null = null;

  function setPhase(phase: Phase): void {
    app.dataset.phase = phase;
    start.hidden = phase !== "idle" && phase !== "connecting";
    callSection.hidden = phase !== "in-call";
    ended.hidden = phase !== "ended";
    startButton.disabled = phase === "connecting";
    startButton.textContent = phase === "connecting" ? "Connecting…" : "Start call";
  }

  function showError(message: string): void {
    error.textContent = message;
    error.hidden = false;
  }

  function clearError(): void {
    error.textContent = "";
    error.hidden = true;
  }

  function setMuted(muted: boolean, available: boolean): void {
    muteButton.disabled = !available;
    muteButton.setAttribute("aria-pressed", String(muted));
    muteButton.textContent = !available ? "Microphone off" : muted ? "Unmute microphone" : "Mute microphone";
  }

  const view: CallView = {
    transcript,
    audioContainer: audio,
    showError,
    agentState(state: string) {
      agentState.dataset.state = state;
      callSection.dataset.agent = state;
      agentState.textContent = AGENT_STATE_LABELS[state] ?? state;
    },
    microphone: setMuted,
    escalation(notice: EscalationNotice) {
      escalation.hidden = false;
      escalation.dataset.step = notice.step;
      ticketNumber.textContent = notice.ticket;
      escalationStatus.textContent = describeStep(notice.step);
    },
    personJoined(name: string) {
      escalation.hidden = false;
      escalation.dataset.step = "human_joined";
      escalationStatus.textContent = `${name} has joined the call.`;
    },
    ended(reasonText: string | null) {
      call = null;
      endedText.textContent = reasonText ?? "Thank you for calling ShopMe.";
      setPhase("ended");
      againButton.focus();
    },
  };

  startForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (call !== null || app.dataset.phase === "connecting") return;
    void startCall();
  });

  async function startCall(): Promise<void> {
    clearError();
    transcript.clear();
    escalation.hidden = true;
    view.agentState("connecting");
    setPhase("connecting");
    const body: TokenBody = {};
    if (nameInput.value.trim()) body.name = nameInput.value.trim();
    if (usernameInput.value.trim() || passwordInput.value) {
      body.login = { username: usernameInput.value.trim(), password: passwordInput.value };
    }
    try {
      const grant = await requestCallGrant(body);
      passwordInput.value = "";
      const next = new Call(grant, view);
      await next.connect();
      call = next;
      setPhase("in-call");
      chatInput.focus();
      await next.startMicrophone();
    } catch (problem) {
      setPhase("idle");
      showError(problem instanceof CallSetupError ? problem.message : String(problem));
      startButton.focus();
    }
  }

  chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = chatInput.value.trim();
    if (!text || call === null) return;
    chatInput.value = "";
    void call.sendChat(text);
  });

  muteButton.addEventListener("click", () => {
    void call?.toggleMute();
  });

  hangupButton.addEventListener("click", () => {
    void call?.hangUp();
  });

  againButton.addEventListener("click", () => {
    clearError();
    setPhase("idle");
    nameInput.focus();
  });

  setPhase("idle");
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", setUp);
} else {
  setUp();
}
