// The escalation notice the agent sends on the `shopme.escalation` text stream when a ticket is
// opened (and again when the hand-off ends). Schema in README.

import { parseJsonObject } from "./json";

export type EscalationStep =
  | "person_joining"
  | "transferring"
  | "ticket_only"
  | "callback_offered"
  | "human_joined"
  | "transferred";

export interface EscalationNotice {
  ticket: string;
  step: EscalationStep;
}

const TICKET = /^TCK-[A-Z0-9]{6,20}$/;
const STEPS: readonly EscalationStep[] = [
  "person_joining",
  "transferring",
  "ticket_only",
  "callback_offered",
  "human_joined",
  "transferred",
];

export function parseEscalationNotice(raw: string): EscalationNotice | null {
  const notice = parseJsonObject(raw);
  if (notice === null) return null;
  if (notice.type !== "escalation" || notice.version !== 1) return null;
  if (typeof notice.ticket !== "string" || !TICKET.test(notice.ticket)) return null;
  const step = STEPS.find((known) => known === notice.step);
  return step ? { ticket: notice.ticket, step } : null;
}

export function describeStep(step: EscalationStep): string {
  switch (step) {
    case "person_joining":
      return "A person from ShopMe support is joining the call…";
    case "transferring":
      return "Transferring you to a colleague…";
    case "ticket_only":
      return "A colleague will contact you within one business day.";
    case "callback_offered":
      return "No colleague is free right now; your ticket stays open.";
    case "human_joined":
      return "A person from ShopMe support has joined.";
    case "transferred":
      return "Your call was transferred to a colleague.";
  }
}
