// Asks the shop's backend (POST /api/token) for a room token. Every failure becomes a
// CallSetupError whose message is fit to show the customer.
import { MESSAGES } from "./messages";

export interface CallGrant {
  serverUrl: string;
  token: string;
  room: string;
  identity: string;
  signedIn: boolean;
  agentJoinTimeoutS: number;
}

export interface TokenBody {
  name?: string;
  login?: { username: string; password: string };
}

export class CallSetupError extends Error {}

const DEFAULT_AGENT_TIMEOUT_S = 20;

export async function requestCallGrant(body: TokenBody): Promise<CallGrant> {
  let response: Response;
  try {
    response = await fetch("/api/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new CallSetupError(MESSAGES.serverUnreachable);
  }
  const answer = await readJson(response);
  if (!response.ok) {
    const reason = typeof answer?.error === "string" ? answer.error : `the server answered ${response.status}.`;
    throw new CallSetupError(MESSAGES.tokenRefused(reason));
  }
  if (
    !answer ||
    typeof answer.server_url !== "string" ||
    typeof answer.token !== "string" ||
    typeof answer.identity !== "string"
  ) {
    throw new CallSetupError(MESSAGES.tokenBadAnswer);
  }
  const timeout = Number(answer.agent_join_timeout_s);
  return {
    serverUrl: answer.server_url,
    token: answer.token,
    room: String(answer.room ?? ""),
    identity: answer.identity,
    signedIn: answer.signed_in === true,
    agentJoinTimeoutS: Number.isFinite(timeout) && timeout > 0 ? timeout : DEFAULT_AGENT_TIMEOUT_S,
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function readJson(response: Response): Promise<any> {
  try {
    return await response.json();
  } catch {
    return null;
  }
}
