// Live view of the mevauction service: polls /v1/live (counts only while a slot is open)
// and the settled slots' public reports; no build step.
"use strict";
const $ = (id) => document.getElementById(id);
const short = (s) => (s.length > 14 ? s.slice(0, 8) + "…" + s.slice(-4) : s);
let live = null, offset = 0, shownReport = null;

function text(el, value) { el.textContent = value; }

// Amounts arrive as decimal strings of wei (exact past 2**53); BigInt keeps every digit.
const WEI_PER_ETH = 10n ** 18n;
function ethExact(wei) {
  const w = BigInt(wei), frac = (w % WEI_PER_ETH).toString().padStart(18, "0").replace(/0+$/, "");
  return (w / WEI_PER_ETH).toString() + (frac ? "." + frac : "") + " ETH";
}
function ethShort(wei) {
  const w = BigInt(wei);
  if (w < 1_000_000_000_000n) return w.toString() + " wei";  // below 10^-6 ETH: rounding would show 0
  const micro = (w + 500_000_000_000n) / 1_000_000_000_000n;  // rounded to 10^-6 ETH
  return (micro / 1_000_000n).toString() + "." + (micro % 1_000_000n).toString().padStart(6, "0") + " ETH";
}
// An amount shown rounded, with the exact ETH and wei on hover (the title).
function amount(el, wei) {
  if (wei === undefined || wei === null) { el.textContent = "–"; el.removeAttribute("title"); return; }
  el.textContent = ethShort(wei); el.title = ethExact(wei) + " = " + BigInt(wei).toString() + " wei";
}
const Amount = (wei) => ({ wei });

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c !== null && typeof c === "object") amount(td, c.wei); else td.textContent = c;
    tr.appendChild(td);
  }
  return tr;
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

async function pollLive() {
  try {
    live = await getJSON("/v1/live");
    offset = live.now_ms - Date.now();
    text($("slot"), live.slot); text($("world"), live.world);
    text($("ordercount"), live.order_count); text($("builders"), live.builders_sealed);
    // Aggregates only: the open slot's orders are their signers' until it settles.
    const body = $("counts").querySelector("tbody"); body.replaceChildren();
    for (const [by, counts] of [["kind", live.by_kind], ["status", live.by_status]]) {
      for (const [name, n] of Object.entries(counts).sort()) body.appendChild(row([by, name, n]));
    }
    if (live.last_settled !== null && live.last_settled !== shownReport) await showReport(live.last_settled);
  } catch (e) { /* the service may be restarting; try again next tick */ }
}

async function showReport(slot) {
  const report = await getJSON("/v1/slots/" + slot);
  shownReport = slot;
  text($("lastslot"), slot); text($("winner"), report.winner); amount($("proposer"), report.proposer);
  amount($("beta0"), report.default ? report.default.value : null);
  const block = $("block"); block.replaceChildren();
  for (const id of report.block || []) { const li = document.createElement("li"); li.textContent = id; block.appendChild(li); }
  const pay = $("payments").querySelector("tbody"); pay.replaceChildren();
  for (const [id, s] of Object.entries(report.searchers || {})) pay.appendChild(row([short(id), Amount(s.bid), Amount(s.refund)]));
  await drawHistory();
}

async function drawHistory() {
  const rows = (await getJSON("/v1/slots?limit=30")).reverse();
  const svg = $("history"); svg.replaceChildren();
  const W = 640, H = 200, pad = 20, ns = "http://www.w3.org/2000/svg";
  // Bar heights only: Number() may round, which a chart cannot show anyway.
  const max = Math.max(1, ...rows.map((r) => Math.max(Number(r.proposer), Number(r.refunds))));
  const w = (W - 2 * pad) / Math.max(rows.length, 1);
  rows.forEach((r, i) => {
    for (const [k, cls, dx] of [["proposer", "prop", 0], ["refunds", "ref", w / 2]]) {
      const h = (H - 2 * pad) * Number(r[k]) / max;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", pad + i * w + dx); rect.setAttribute("y", H - pad - h);
      rect.setAttribute("width", Math.max(1, w / 2 - 1)); rect.setAttribute("height", h);
      rect.setAttribute("class", cls); rect.setAttribute("data-slot", r.slot);
      svg.appendChild(rect);
    }
  });
}

function tick() {
  if (live) {
    const left = Math.max(0, live.deadline_ms - (Date.now() + offset));
    text($("countdown"), (left / 1000).toFixed(1));
    $("clockbar").setAttribute("width", 260 * (1 - left / (live.slot_seconds * 1000)));
  }
  requestAnimationFrame(tick);
}

pollLive(); setInterval(pollLive, 500); requestAnimationFrame(tick);
