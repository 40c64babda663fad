/* app.js - the live view: the run's model from server-sent events
   (/events: first the whole model, then deltas), drawn into the DOM and,
   per task, a canvas map of block states over a 2D slice of the grid. */
"use strict";

const STATES = ["pending", "ready", "processing", "completed", "skipped", "failed", "orphaned"];
const COLORS = [[208, 208, 208], [142, 202, 230], [255, 183, 3], [42, 157, 143],
                [144, 190, 109], [230, 57, 70], [109, 89, 122]];
const COUNTERS = ["total", "pending", "ready", "processing", "completed", "skipped", "failed",
                  "orphaned", "retries", "blocks_per_s", "elapsed_s", "workers", "jobs_pending",
                  "jobs_starting"];
const tasks = new Map();          // id -> {el, counts, grid, map, slice, dirty}
const workers = new Map();        // id -> worker
let failures = [];

function el(tag, text) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; return e; }

function task(id) {
  let t = tasks.get(id);
  if (t) return t;
  const node = document.getElementById("task-template").content.firstElementChild.cloneNode(true);
  node.dataset.task = id;
  node.querySelector(".task-id").textContent = id;
  const legend = node.querySelector(".legend");
  STATES.forEach((s, i) => {
    const li = el("li"); const sw = el("i"); sw.style.background = `rgb(${COLORS[i]})`;
    li.append(sw, s + " ", el("b")); li.lastChild.dataset.mapCount = s; li.lastChild.textContent = "0";
    legend.append(li);
  });
  document.getElementById("tasks").append(node);
  t = {el: node, counts: {}, grid: [], map: null, slice: [], dirty: true};
  tasks.set(id, t);
  return t;
}

function setCounts(c) {
  const t = task(c.task);
  t.counts = c;
  if (!t.map) t.dirty = true;     // the note on a task without a map
  for (const k of COUNTERS) {
    const b = t.el.querySelector(`[data-counter="${k}"]`);
    if (b && c[k] !== undefined) b.textContent = (k === "blocks_per_s" || k === "elapsed_s") ? c[k].toFixed(1) : c[k];
  }
  const total = c.total || 1;
  for (const k of ["completed", "failed", "orphaned", "processing"])
    t.el.querySelector(`.bar .${k}`).style.width = (100 * c[k] / total) + "%";
}

function setGrid(t, grid) {
  const total = grid.reduce((a, b) => a * b, 1);
  if (t.map && t.map.length === total && t.grid.join() === grid.join()) return;
  t.grid = grid; t.map = new Uint8Array(total); t.slice = grid.slice(0, Math.max(0, grid.length - 2)).map(() => 0);
  const box = t.el.querySelector(".slices"); box.textContent = "";
  t.slice.forEach((_, d) => {
    const label = el("label", `axis ${d}: `); const input = el("input"); const out = el("output", "0");
    input.type = "range"; input.min = 0; input.max = grid[d] - 1; input.value = 0; input.dataset.axis = d;
    input.oninput = () => { t.slice[d] = +input.value; out.textContent = input.value; t.dirty = true; };
    label.append(input, " ", out); box.append(label);
  });
  t.el.querySelector(".grid-note").textContent = `grid ${grid.join(" × ")} blocks` +
    (grid.length > 2 ? `: slice through axes ${grid.length - 2} and ${grid.length - 1}` : "");
}

function applySnapshot(s) {
  const t = task(s.task);
  setGrid(t, s.grid);
  const bytes = atob(s.map);
  for (let i = 0; i < bytes.length; i++) t.map[s.first + i] = bytes.charCodeAt(i);
  t.dirty = true;
}

function applyChanges(c) {
  const t = tasks.get(c.task);
  if (!t || !t.map) return;
  for (let i = 0; i < c.idx.length; i++) t.map[c.idx[i]] = c.st[i];
  t.dirty = true;
}

function setWorker(w) {
  workers.set(w.worker, w);
  const body = document.querySelector("#workers tbody"); body.textContent = "";
  for (const v of workers.values()) {
    const tr = el("tr"); tr.className = v.state;
    for (const k of ["worker", "task", "host", "pid"]) tr.append(el("td", v[k]));
    tr.append(el("td", v.state + (v.reason ? ` (${v.reason})` : ""))); body.append(tr);
  }
}

function drawFailures() {
  const ol = document.getElementById("failures"); ol.textContent = "";
  for (const f of failures.slice().reverse()) {
    const li = el("li", `${f.task}: block ${f.block_id}, attempt ${f.attempt}` +
                  (f.final ? ", failed for good" : ", will be retried") + (f.worker ? ` (worker ${f.worker})` : ""));
    li.append(el("pre", f.error)); ol.append(li);
  }
}

function setStats(s) {
  const box = document.getElementById("stats"); box.textContent = "";
  if (!s || !s.tasks) return;
  const table = el("table"); const head = el("tr");
  for (const h of ["task", "blocks", "mean s", "p50 s", "p95 s", "max s", "peak concurrency"]) head.append(el("th", h));
  table.append(head);
  for (const t of s.tasks) {
    const tr = el("tr");
    for (const v of [t.task, t.blocks, t.mean_s, t.p50_s, t.p95_s, t.max_s, t.peak_concurrency])
      tr.append(el("td", typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : v));
    table.append(tr);
  }
  box.append(table);
}

function setFinished(f) {
  if (!f) return;
  for (const c of f.tasks) setCounts(c);
  const s = document.getElementById("run-status");
  s.textContent = f.success ? "finished: every block completed" : "finished with failures" + (f.interrupted ? " (interrupted)" : "");
  document.body.dataset.finished = "true";
}

// The broker keeps no map of a task of more blocks than this (its counters
// still come): PROGRESS_MAP_MAX in broker/broker_internal.h.
const MAP_MAX = 1 << 24;

function draw(t) {
  t.dirty = false;
  const note = t.el.querySelector(".map-note");
  if (note) note.textContent = !t.map && t.counts.total > MAP_MAX
    ? `no map: ${t.counts.total} blocks (the broker keeps one for up to ${MAP_MAX})` : "";
  if (!t.map) return;
  const counts = new Array(STATES.length).fill(0);
  for (let i = 0; i < t.map.length; i++) counts[t.map[i]]++;
  STATES.forEach((s, i) => { t.el.querySelector(`[data-map-count="${s}"]`).textContent = counts[i]; });
  const g = t.grid, n = g.length;
  let rows, cols, base = 0;
  if (n === 1) { cols = Math.min(g[0], 1024) || 1; rows = Math.ceil(g[0] / cols) || 1; }
  else {
    rows = g[n - 2]; cols = g[n - 1];
    for (let d = 0; d < n - 2; d++) base = base * g[d] + t.slice[d];
    base *= rows * cols;
  }
  if (!rows || !cols) return;
  const canvas = t.el.querySelector("canvas");
  canvas.width = cols; canvas.height = rows;
  const scale = Math.max(1, Math.floor(Math.min(640 / cols, 480 / rows)));
  canvas.style.width = cols * scale + "px"; canvas.style.height = rows * scale + "px";
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(cols, rows);
  for (let i = 0; i < rows * cols; i++) {
    const idx = base + i, c = idx < t.map.length ? COLORS[t.map[idx]] : [255, 255, 255];
    img.data[4 * i] = c[0]; img.data[4 * i + 1] = c[1]; img.data[4 * i + 2] = c[2]; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function onEvent(e) {
  switch (e.type) {
  case "full":
    for (const t of e.tasks) { setCounts(t); if (t.map) applySnapshot(t.map); else if (t.grid.length) setGrid(task(t.task), t.grid); }
    for (const w of e.workers) setWorker(w);
    failures = e.failures; drawFailures(); setStats(e.stats); setFinished(e.finished);
    if (!e.finished) document.getElementById("run-status").textContent = "running";
    break;
  case "task": setCounts(e); break;
  case "snapshot": applySnapshot(e); break;
  case "changes": applyChanges(e); break;
  case "worker": setWorker(e); break;
  case "failure": failures.push(e); if (failures.length > 50) failures.shift(); drawFailures(); break;
  case "stats": setStats(e.stats); break;
  case "finished": setFinished(e); break;
  }
}

setInterval(() => { for (const t of tasks.values()) if (t.dirty) draw(t); }, 250);

const source = new EventSource("events");
source.onopen = () => { document.getElementById("connection").textContent = "live"; };
source.onerror = () => { document.getElementById("connection").textContent = "disconnected (the last state is shown)"; };
source.onmessage = (m) => onEvent(JSON.parse(m.data));
