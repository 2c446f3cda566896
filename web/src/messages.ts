// Every sentence the page shows when something goes wrong: one place, plain words.
export const MESSAGES = {
  serverUnreachable:
    "The ShopMe server could not be reached. Check your internet connection and try again.",
  tokenRefused: (reason: string) => `The call could not be started: ${reason}`,
  tokenBadAnswer: "The ShopMe server sent an answer this page does not understand. Please try again later.",
  voiceUnreachable:
    "The voice service could not be reached, so the call could not start. Please try again in a moment.",
  voiceRefused: "The voice service refused this call. Please start a new call.",
  micDenied:
    "The browser did not allow the microphone, so the assistant cannot hear you. You can still type below, or allow the microphone for this site and start a new call.",
  micMissing: "No microphone was found. You can still type your questions below.",
  micFailed: "The microphone could not be started. You can still type your questions below.",
  agentNeverJoined: (seconds: number) =>
    `The support assistant did not join within ${seconds} seconds. Please hang up and try again in a few minutes.`,
  disconnected: "The call was disconnected. Start a new call to continue.",
  sendFailed: "Your message could not be sent. Please try again.",
  assistantLeft: "The assistant has left the call.",
} as const;
