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
// An amount in ETH at full precision (every wei digit, from BigInt: never a float), the wei on hover.
function amount(el, wei) {
  if (wei === undefined || wei === null) { el.textContent = "–"; el.removeAttribute("title"); return; }
  el.textContent = ethExact(wei); el.title = BigInt(wei).toString() + " wei";
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
  const d = report.delivery;  // serve --chain: the block mined for the slot
  text($("dnumber"), d ? d.number : "–"); text($("dhash"), d && d.hash ? d.hash : "–");
  text($("dstatus"), d ? d.status : "no chain"); text($("dverified"), verdict(d));
  await drawHistory();
}

function verdict(d) {
  if (!d) return "–";
  const v = d.verification;
  if (v === undefined) return d.verified === null ? "pending" : (d.verified ? "ok" : "mismatch");
  if (!v) return d.status === "planned" ? "pending" : "–";
  return v.ok ? "ok" : (v.mismatches || []).length + " mismatches: " + (v.mismatches || []).slice(0, 2).join("; ");
}

function svgEl(name, attrs, content) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (content !== undefined) el.textContent = content;
  return el;
}

async function drawHistory() {
  const rows = (await getJSON("/v1/slots?limit=30")).reverse();
  const svg = $("history"); svg.replaceChildren();
  const W = 680, H = 240, left = 150, right = 10, top = 12, bottom = 46;
  const plotW = W - left - right, plotH = H - top - bottom;
  // The scale's top is the largest amount, kept as a BigInt so the axis labels are exact;
  // Number() only places the bars (a rounded pixel cannot be seen anyway).
  let max = 1n;
  for (const r of rows) for (const k of ["proposer", "refunds"]) if (BigInt(r[k]) > max) max = BigInt(r[k]);
  const y = (wei) => top + plotH - plotH * Number(BigInt(wei) * 1_000_000n / max) / 1_000_000;
  svg.appendChild(svgEl("line", { x1: left, y1: top, x2: left, y2: top + plotH, class: "axis" }));
  svg.appendChild(svgEl("line", { x1: left, y1: top + plotH, x2: left + plotW, y2: top + plotH, class: "axis" }));
  for (const [num, den] of [[0n, 1n], [1n, 2n], [1n, 1n]]) {  // y ticks at 0, half and the top: exact ETH
    const wei = max * num / den, ty = y(wei);
    svg.appendChild(svgEl("line", { x1: left - 4, y1: ty, x2: left, y2: ty, class: "axis" }));
    svg.appendChild(svgEl("text", { x: left - 6, y: ty + 4, "text-anchor": "end", class: "ytick" }, ethExact(wei)));
  }
  svg.appendChild(svgEl("text", { x: 4, y: top + 10, class: "axislabel" }, "ETH"));
  svg.appendChild(svgEl("text", { x: left + plotW / 2, y: H - 4, "text-anchor": "middle", class: "axislabel" },
                        "slot (block number on a chain)"));
  const w = plotW / Math.max(rows.length, 1);
  const every = Math.max(1, Math.ceil(rows.length / 12));  // slot labels that do not overlap
  rows.forEach((r, i) => {
    for (const [k, cls, dx] of [["proposer", "prop", 0], ["refunds", "ref", w / 2]]) {
      const ty = y(r[k]);
      const rect = svgEl("rect", { x: left + i * w + dx, y: ty, width: Math.max(1, w / 2 - 1),
                                   height: top + plotH - ty, class: cls, "data-slot": r.slot });
      rect.appendChild(svgEl("title", {}, "slot " + r.slot + " " + k + ": " + ethExact(r[k])));
      svg.appendChild(rect);
    }
    if (i % every === 0) {
      svg.appendChild(svgEl("text", { x: left + i * w + w / 2, y: top + plotH + 16, "text-anchor": "middle",
                                      class: "xtick", "data-slot": r.slot }, String(r.slot)));
    }
  });
  const body = $("delivered").querySelector("tbody"); body.replaceChildren();
  for (const r of rows.slice().reverse()) {
    if (r.delivery === undefined) continue;  // not on a chain
    const d = r.delivery || {};
    const tr = row([r.slot, d.number ?? "–", d.hash || "–", d.status || "–", verdict(r.delivery), Amount(r.proposer)]);
    tr.setAttribute("data-slot", r.slot);
    body.appendChild(tr);
  }
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
