// Documents the agent sends on text streams arrive as untrusted text: parse to a plain object
// or nothing, never throw.
export function parseJsonObject(raw: string): Record<string, unknown> | null {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return null;
  }
  return typeof data === "object" && data !== null && !Array.isArray(data)
    ? (data as Record<string, unknown>)
    : null;
}
