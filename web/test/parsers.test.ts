// What the page accepts from the room: hostile or malformed JSON is dropped, never shown.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseEscalationNotice } from "../src/escalation";
import { parseOrderCard } from "../src/orderCard";

const CARD = {
  type: "order_card",
  version: 1,
  order_number: "482913",
  status: "shipped",
  status_text: "shipped",
  placed_on: "2026-11-18",
  items: [{ sku: "SM-1", name: "Cotton kurta", quantity: 1, unit_price: "₹1,299.00", final_sale: false, returned_quantity: 0 }],
  carrier: "Delhivery",
  tracking_number: "DL123456789IN",
  shipped_on: "2026-11-19",
  estimated_delivery: "2026-11-25",
  delivered_on: null,
  return_window_ends: null,
  total: "₹1,299.00",
};

test("a card from the README's schema is read field by field", () => {
  const card = parseOrderCard(JSON.stringify(CARD));
  assert.ok(card);
  assert.equal(card.orderNumber, "482913");
  assert.equal(card.trackingNumber, "DL123456789IN");
  assert.equal(card.deliveredOn, null);
  assert.deepEqual(card.items, [
    { name: "Cotton kurta", quantity: 1, unitPrice: "₹1,299.00", finalSale: false, returnedQuantity: 0 },
  ]);
});

test("anything that is not a version-1 order card is dropped", () => {
  for (const raw of [
    "not json",
    "null",
    "[]",
    JSON.stringify({ ...CARD, type: "escalation" }),
    JSON.stringify({ ...CARD, version: 2 }),
    JSON.stringify({ ...CARD, order_number: "" }),
    JSON.stringify({ ...CARD, order_number: 482913 }),
  ]) {
    assert.equal(parseOrderCard(raw), null, raw);
  }
});

test("malformed fields become absent, not shown", () => {
  const card = parseOrderCard(
    JSON.stringify({
      ...CARD,
      placed_on: "<img src=x onerror=alert(1)>",
      shipped_on: "2026-13",
      total: 1299,
      items: [null, "x", { name: 5, quantity: -2, unit_price: {}, returned_quantity: 1.5 }],
    }),
  );
  assert.ok(card);
  assert.equal(card.placedOn, null);
  assert.equal(card.shippedOn, null);
  assert.equal(card.total, null);
  assert.deepEqual(card.items, [
    { name: "item", quantity: 0, unitPrice: "", finalSale: false, returnedQuantity: 0 },
  ]);
});

test("very long texts and item lists are cut", () => {
  const card = parseOrderCard(
    JSON.stringify({ ...CARD, carrier: "x".repeat(5000), items: Array(500).fill(CARD.items[0]) }),
  );
  assert.ok(card);
  assert.equal(card.carrier?.length, 80);
  assert.equal(card.items.length, 50);
});

test("an escalation notice needs a real ticket number and a known step", () => {
  const ok = { type: "escalation", version: 1, ticket: "TCK-7QX2M9", step: "person_joining" };
  assert.deepEqual(parseEscalationNotice(JSON.stringify(ok)), { ticket: "TCK-7QX2M9", step: "person_joining" });
  for (const bad of [
    { ...ok, ticket: "TCK-<b>x</b>" },
    { ...ok, ticket: "7QX2M9" },
    { ...ok, step: "pwned" },
    { ...ok, version: 2 },
    { ...ok, type: "order_card" },
  ]) {
    assert.equal(parseEscalationNotice(JSON.stringify(bad)), null, JSON.stringify(bad));
  }
  assert.equal(parseEscalationNotice("{"), null);
});
