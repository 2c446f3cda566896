// The conversation as a list: spoken turns (interim, then final), typed messages, order cards and
// notices. Everything is inserted as text, never as HTML.

export type Speaker = "agent" | "customer" | "person";

export class Transcript {
  private readonly segments = new Map<string, HTMLLIElement>();

  constructor(private readonly list: HTMLOListElement) {}

  clear(): void {
    this.segments.clear();
    this.list.replaceChildren();
  }

  /** Show a segment's text so far; a later call with the same id replaces it. */
  showSegment(id: string, speaker: Speaker, who: string, text: string, final: boolean): void {
    let item = this.segments.get(id);
    if (!item) {
      item = this.turn(speaker, who);
      item.dataset.segment = id;
      this.segments.set(id, item);
      this.append(item);
    }
    item.dataset.final = String(final);
    item.querySelector(".text")!.textContent = text;
    this.scroll();
  }

  addLine(speaker: Speaker, who: string, text: string): void {
    const item = this.turn(speaker, who);
    item.dataset.final = "true";
    item.querySelector(".text")!.textContent = text;
    this.append(item);
  }

  addNotice(text: string): void {
    const item = document.createElement("li");
    item.className = "notice";
    item.textContent = text;
    this.append(item);
  }

  addElement(item: HTMLElement): void {
    this.append(item);
  }

  private turn(speaker: Speaker, who: string): HTMLLIElement {
    const item = document.createElement("li");
    item.className = "turn";
    item.dataset.speaker = speaker;
    const label = document.createElement("span");
    label.className = "who";
    label.textContent = who;
    const text = document.createElement("span");
    text.className = "text";
    item.append(label, text);
    return item;
  }

  private append(item: HTMLElement): void {
    this.list.append(item);
    this.scroll();
  }

  private scroll(): void {
    this.list.scrollTop = this.list.scrollHeight;
  }
}
