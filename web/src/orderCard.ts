// The order card the agent sends on the `shopme.order-card` text stream (schema in README).
// The JSON is checked field by field and rendered with textContent only: never as HTML.

import { parseJsonObject } from "./json";

export interface OrderItem {
  name: string;
  quantity: number;
  unitPrice: string;
  finalSale: boolean;
  returnedQuantity: number;
}

export interface OrderCard {
  orderNumber: string;
  status: string;
  statusText: string;
  placedOn: string | null;
  items: OrderItem[];
  carrier: string | null;
  trackingNumber: string | null;
  shippedOn: string | null;
  estimatedDelivery: string | null;
  deliveredOn: string | null;
  returnWindowEnds: string | null;
  total: string | null;
}

const MAX_ITEMS = 50;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

function text(value: unknown, max = 200): string | null {
  return typeof value === "string" && value.length > 0 ? value.slice(0, max) : null;
}

function date(value: unknown): string | null {
  return typeof value === "string" && ISO_DATE.test(value) ? value : null;
}

function count(value: unknown): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : 0;
}

export function parseOrderCard(raw: string): OrderCard | null {
  const card = parseJsonObject(raw);
  if (card === null) return null;
  const orderNumber = text(card.order_number, 40);
  if (card.type !== "order_card" || card.version !== 1 || !orderNumber) return null;
  const items = Array.isArray(card.items) ? card.items.slice(0, MAX_ITEMS) : [];
  return {
    orderNumber,
    status: text(card.status, 40) ?? "unknown",
    statusText: text(card.status_text, 80) ?? text(card.status, 40) ?? "unknown",
    placedOn: date(card.placed_on),
    items: items
      .filter((item): item is Record<string, unknown> => typeof item === "object" && item !== null)
      .map((item) => ({
        name: text(item.name) ?? "item",
        quantity: count(item.quantity),
        unitPrice: text(item.unit_price, 40) ?? "",
        finalSale: item.final_sale === true,
        returnedQuantity: count(item.returned_quantity),
      })),
    carrier: text(card.carrier, 80),
    trackingNumber: text(card.tracking_number, 80),
    shippedOn: date(card.shipped_on),
    estimatedDelivery: date(card.estimated_delivery),
    deliveredOn: date(card.delivered_on),
    returnWindowEnds: date(card.return_window_ends),
    total: text(card.total, 40),
  };
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });

function el<K extends keyof HTMLElementTagNameMap>(tag: K, content?: string, className?: string) {
  const node = document.createElement(tag);
  if (content !== undefined) node.textContent = content;
  if (className) node.className = className;
  return node;
}

function timeElement(iso: string): HTMLTimeElement {
  const node = el("time", dateFormat.format(new Date(`${iso}T00:00:00Z`)));
  node.dateTime = iso;
  return node;
}

export function renderOrderCard(card: OrderCard): HTMLElement {
  const root = el("li", undefined, "order-card");
  root.dataset.order = card.orderNumber;
  root.setAttribute("aria-label", `Order ${card.orderNumber}`);

  const title = el("h3", `Order ${card.orderNumber} `);
  const status = el("span", card.statusText, "status");
  status.dataset.field = "status";
  status.dataset.status = card.status;
  title.append(status);
  root.append(title);

  const facts = el("dl");
  const addFact = (label: string, field: string, value: string | null, isDate = false) => {
    if (value === null) return;
    const dd = el("dd");
    dd.dataset.field = field;
    if (isDate) dd.append(timeElement(value));
    else dd.textContent = value;
    facts.append(el("dt", label), dd);
  };
  addFact("Placed", "placed_on", card.placedOn, true);
  addFact("Shipped", "shipped_on", card.shippedOn, true);
  addFact("Expected", "estimated_delivery", card.estimatedDelivery, true);
  addFact("Delivered", "delivered_on", card.deliveredOn, true);
  addFact("Return by", "return_window_ends", card.returnWindowEnds, true);
  addFact("Carrier", "carrier", card.carrier);
  addFact("Tracking", "tracking_number", card.trackingNumber);
  addFact("Total", "total", card.total);
  root.append(facts);

  if (card.items.length > 0) {
    const table = el("table");
    const caption = el("caption", "Items", "visually-hidden");
    const head = el("tr");
    head.append(el("th", "Item"), el("th", "Qty", "num"), el("th", "Price", "num"));
    table.append(caption, el("thead"), el("tbody"));
    table.tHead!.append(head);
    for (const item of card.items) {
      const row = el("tr");
      row.dataset.field = "item";
      const notes = [
        item.finalSale ? "final sale" : "",
        item.returnedQuantity > 0 ? `${item.returnedQuantity} returned` : "",
      ].filter(Boolean);
      const name = notes.length ? `${item.name} (${notes.join(", ")})` : item.name;
      row.append(el("td", name), el("td", String(item.quantity), "num"), el("td", item.unitPrice, "num"));
      table.tBodies[0].append(row);
    }
    root.append(table);
  }
  return root;
}
