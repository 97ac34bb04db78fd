// weaklabel review: a single page over the JSON API. Every text from the run is put in the
// page with textContent (never as HTML), and every write carries the CSRF token.
"use strict";

let SESSION = null;
const main = () => document.getElementById("main");
const show = (parts) => main().replaceChildren(...[parts].flat(3));

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(3)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.classList.add("show");
  clearTimeout(box._timer);
  box._timer = setTimeout(() => box.classList.remove("show"), 2500);
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": SESSION.csrf },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const payload = await response.json();
  if (!response.ok) throw new Error(payload.error || response.statusText);
  return payload;
}

function fmt(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(3);
  if (Array.isArray(value)) return value.join(", ");
  return String(value);
}

// A table whose columns sort on click (numbers as numbers, missing values last).
function table(rows, columns, options = {}) {
  columns = columns || (rows.length ? Object.keys(rows[0]) : []);
  let sortKey = null, ascending = true;
  const body = el("tbody");
  const head = el("tr");
  const render = () => {
    const sorted = rows.slice();
    if (sortKey !== null) {
      sorted.sort((a, b) => {
        const x = a[sortKey], y = b[sortKey];
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      });
    }
    body.replaceChildren(...sorted.map((row) => el("tr", {}, columns.map((c) => {
      const cell = options.cell ? options.cell(c, row) : null;
      if (cell) return cell;
      const v = row[c];
      return el("td", { class: typeof v === "number" && options.signed && options.signed.includes(c) ? (v > 0 ? "pos" : v < 0 ? "neg" : "") : "" }, fmt(v));
    }))));
  };
  for (const c of columns) {
    const th = el("th", { class: "sortable", title: "sort" }, c.replaceAll("_", " "));
    th.addEventListener("click", () => {
      ascending = sortKey === c ? !ascending : true;
      sortKey = c;
      head.querySelectorAll("th").forEach((h) => h.classList.remove("sorted-asc", "sorted-desc"));
      th.classList.add(ascending ? "sorted-asc" : "sorted-desc");
      render();
    });
    head.append(th);
  }
  render();
  return el("div", { class: "table-wrap" }, el("table", { id: options.id }, el("thead", {}, head), body));
}

function probBars(probs) {
  return Object.entries(probs).map(([name, p]) =>
    el("span", { class: "bar" }, name, el("span", { class: "fill", style: `width:${Math.round(60 * p)}px` }), p.toFixed(2)));
}

function rowCard(row, extra, blind) {
  const votes = row.votes.map((v) => el("span", { class: "chip" + (v.vote !== row.predicted ? " disagree" : ""), title: v.source },
    `${v.source} → ${v.vote}`));
  return el("div", { class: "row", "data-row": `${row.split}:${row.row_id}` },
    el("div", { class: "meta" },
      el("span", {}, `${row.split} · row ${row.row_id}`),
      el("span", {}, "label model: ", el("span", { class: "class-tag" }, row.predicted), ` (${row.confidence.toFixed(2)})`),
      row.student ? el("span", {}, "student: ", el("span", { class: "class-tag" }, row.student)) : null,
      el("span", {}, `majority: ${row.majority ?? "–"}`),
      row.gold && !blind ? el("span", {}, "gold: ", el("span", { class: "class-tag" }, row.gold)) : null,
      row.reviewed ? el("span", {}, "your label: ", el("span", { class: "class-tag" }, row.reviewed)) : null,
      row.refit_predicted ? el("span", {}, "after refit: ", el("span", { class: "class-tag" }, row.refit_predicted)) : null),
    el("div", { class: "text" }, row.text),
    el("div", {}, probBars(row.probs)),
    el("div", {}, votes.length ? votes : el("span", { class: "muted" }, "no source votes"),
      el("span", { class: "muted" }, ` · ${row.n_abstains} abstain`)),
    extra || null);
}

// ---------------------------------------------------------------- pages
async function showOverview() {
  const o = await api("/api/overview");
  const parts = [el("h2", {}, `Run ${o.name}`),
    el("p", { class: "muted" }, `${o.sources} sources · classes ${o.classes.join(", ")} · `,
      Object.entries(o.splits).map(([s, n]) => `${s}: ${n} rows`).join(", "),
      ` · label model ${o.label_model.kind} (estimator: ${o.label_model.estimator ?? "–"}) · student ${o.student}`)];
  if (o.warnings.length) parts.push(el("h3", {}, "Warnings"), o.warnings.map((w) => el("div", { class: "warning" }, w)));
  parts.push(el("h2", {}, "Scores"), o.scores.length ? table(o.scores.map(({ i, ...rest }) => rest), null, { id: "scores" }) : el("p", {}, "No split has gold labels."));
  parts.push(el("h2", {}, "Coverage and class balance per split"), table(o.coverage, null, { id: "coverage" }));
  const lm = o.label_model;
  const lmCard = [el("h3", {}, "Label model"), el("p", {}, `estimator chosen: ${lm.estimator ?? "–"}; class balance: `,
    Object.entries(lm.class_balance).map(([c, p]) => `${c} ${p.toFixed(2)}`).join(", "))];
  if (lm.dev_scores) lmCard.push(el("p", { class: "muted" }, "dev scores of the candidates: ",
    Object.entries(lm.dev_scores).map(([c, p]) => `${c} ${fmt(p)}`).join("; ")));
  parts.push(el("div", { class: "card" }, lmCard));
  if (o.class_report) {
    parts.push(el("h2", {}, `Label model per class (${o.class_report.split})`), el("div", { class: "grid2" },
      el("div", {}, el("h3", {}, "Confusion matrix (gold rows, predicted columns)"), table(o.class_report.confusion, null, { id: "confusion" })),
      el("div", {}, el("h3", {}, "Precision, recall, F1"), table(o.class_report.per_class, null, { id: "per-class" }))));
  }
  show(parts);
}

async function showSources(params) {
  const rows = await api("/api/sources");
  const cell = (c, row) => c === "source"
    ? el("td", {}, el("a", { href: `#/sources?name=${encodeURIComponent(row.source)}` }, row.source)) : null;
  const parts = [el("h2", {}, "Sources"),
    el("p", { class: "muted" }, "Coverage, overlaps, conflicts and disagreement with the label model on the train split; accuracy on the labeled rows (valid gold and your labels). Click a column to sort, a name for examples."),
    table(rows, null, { id: "sources-table", cell })];
  const detail = el("div", { id: "source-detail" });
  parts.push(detail);
  show(parts);
  if (params.get("name")) await showSourceDetail(params.get("name"), detail);
}

async function showSourceDetail(name, box) {
  const d = await api(`/api/sources/${encodeURIComponent(name)}`);
  const parts = [el("h2", {}, `${d.source} (${d.kind})`)];
  if (d.llm) {
    parts.push(el("div", { class: "card" }, el("h3", {}, "Answers"),
      el("p", {}, Object.entries(d.llm.answers).map(([c, n]) => `${c}: ${n}`).join(" · ")),
      d.llm.quality ? [el("h3", {}, "Quality on the labeled rows"), table([d.llm.quality])] : el("p", { class: "muted" }, "No labeled rows yet."),
      d.llm.usage ? [el("h3", {}, "Usage"), table([d.llm.usage], ["model", "decoding", "rows", "rows_in_budget", "cache_hits", "requests_sent", "errors", "unparsable", "abstains", "cost"])] : null,
      el("h3", {}, "Prompt"), el("pre", { class: "code" }, d.llm.config.prompt)));
  }
  for (const [kind, rows] of Object.entries(d.examples)) {
    parts.push(el("h3", {}, `Rows where it ${kind}`),
      rows.length ? rows.map((r) => rowCard(r)) : el("p", { class: "muted" }, "none"));
  }
  box.replaceChildren(...parts.flat(3));
  box.scrollIntoView();
}

const ROW_FILTERS = ["split", "predicted", "min_confidence", "max_confidence", "disagreement", "source", "source_filter", "slice", "text", "reviewed", "coverage", "order"];

async function showRows(params) {
  const slices = await api("/api/slices");
  const select = (name, options) => el("select", { name }, el("option", { value: "" }, "any"),
    options.map(([value, text]) => el("option", { value, selected: params.get(name) === value }, text)));
  const input = (name, type, extra) => el("input", { name, type, value: params.get(name) || "", ...extra });
  const sliceOptions = slices.flatMap((s) => s.slices.map((x) => [x.id, `${s.source}: ${x.description} (${x.size})`]));
  const form = el("form", { class: "filters", id: "row-filters" },
    el("label", {}, "split", select("split", SESSION.splits.map((s) => [s, s]))),
    el("label", {}, "predicted", select("predicted", SESSION.classes.map((c) => [c, c]))),
    el("label", {}, "confidence ≥", input("min_confidence", "number", { step: "0.05", min: 0, max: 1, style: "width:5rem" })),
    el("label", {}, "confidence ≤", input("max_confidence", "number", { step: "0.05", min: 0, max: 1, style: "width:5rem" })),
    el("label", {}, "disagreement", select("disagreement", [["conflict", "sources conflict"], ["overruled", "label model overrules the majority"], ["wrong", "label model wrong on labeled rows"]])),
    el("label", {}, "source", select("source", SESSION.sources.map((s) => [s, s]))),
    el("label", {}, "source…", select("source_filter", [["votes", "votes"], ["abstains", "abstains"], ["disagrees", "differs from the label model"], ["wrong", "is wrong on labeled rows"]])),
    el("label", {}, "error slice", select("slice", sliceOptions)),
    el("label", {}, "text contains", input("text", "search", { placeholder: "search" })),
    el("label", {}, "your label", select("reviewed", [["yes", "labeled"], ["no", "not labeled"]])),
    el("label", {}, "coverage", select("coverage", [["covered", "some source votes"], ["uncovered", "no source votes"]])),
    el("label", {}, "order", select("order", [["uncertain", "least certain first"], ["confident", "most certain first"]])),
    el("button", { type: "submit", id: "apply-filters" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(form).entries()) if (value !== "") next.set(key, value);
    location.hash = `#/rows?${next}`;
  });
  const results = el("div", { id: "row-results" }, el("p", { class: "muted" }, "Loading…"));
  main().replaceChildren(el("h2", {}, "Rows"), form, results);
  const query = new URLSearchParams();
  for (const key of ROW_FILTERS) if (params.get(key)) query.set(key, params.get(key));
  const offset = Number(params.get("offset") || 0);
  query.set("offset", offset);
  query.set("limit", 25);
  const started = performance.now();
  const page = await api(`/api/rows?${query}`);
  const ms = Math.round(performance.now() - started);
  const move = (delta) => { const next = new URLSearchParams(params); next.set("offset", Math.max(0, offset + delta)); location.hash = `#/rows?${next}`; };
  const pager = el("div", { class: "pager" },
    el("button", { class: "secondary", disabled: offset === 0, onclick: () => move(-25) }, "← previous"),
    el("span", { id: "row-total" }, `${page.total} rows match · showing ${page.total ? offset + 1 : 0}–${offset + page.rows.length} · ${ms} ms`),
    el("button", { class: "secondary", disabled: offset + 25 >= page.total, onclick: () => move(25) }, "next →"));
  results.replaceChildren(pager, ...page.rows.map((r) => rowCard(r)));
}

// Keyboard labeling: digits pick a class, s skips, u undoes the last label.
let labelQueue = [], labelHistory = [];

async function showLabel(params) {
  const slices = await api("/api/slices");
  const split = params.get("split") || "train";
  const slice = params.get("slice") || "";
  const controls = el("form", { class: "filters", id: "label-controls" },
    el("label", {}, "rows from", el("select", { name: "split" }, SESSION.splits.filter((s) => s !== "test").map((s) => el("option", { value: s, selected: s === split }, s)))),
    el("label", {}, "chosen by", el("select", { name: "slice" }, el("option", { value: "" }, "uncertainty (least certain first)"),
      slices.flatMap((s) => s.slices.map((x) => el("option", { value: x.id, selected: x.id === slice }, `error slice — ${s.source}: ${x.description}`))))),
    el("button", { type: "submit" }, "Start"));
  controls.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams(new FormData(controls));
    location.hash = `#/label?${next}`;
  });
  const legend = el("p", { class: "muted" }, "Keys: ", SESSION.classes.map((c, k) => [el("kbd", {}, String(k + 1)), ` ${c}  `]),
    el("kbd", {}, "s"), " skip  ", el("kbd", {}, "u"), " undo. Labels are saved at once; test rows are never offered.");
  const card = el("div", { id: "label-card", class: "label-card" });
  main().replaceChildren(el("h2", {}, "Label rows"), controls, legend, card);
  const query = new URLSearchParams({ reviewed: "no", order: slice ? "row" : "uncertain", limit: 50 });
  if (slice) query.set("slice", slice); else query.set("split", split);
  const page = await api(`/api/rows?${query}`);
  labelQueue = page.rows.filter((r) => r.split !== "test");
  renderLabelCard();
}

function renderLabelCard() {
  const card = document.getElementById("label-card");
  if (!card) return;
  if (!labelQueue.length) { card.replaceChildren(el("p", {}, "No more rows to label here. Pick another slice, or refit.")); return; }
  const row = labelQueue[0];
  const keys = el("div", { class: "keys" }, SESSION.classes.map((c, k) =>
    el("button", { "data-class": c, onclick: () => giveLabel(c) }, `${k + 1} · ${c}`)),
  el("button", { class: "secondary", onclick: skipRow }, "s · skip"));
  card.replaceChildren(rowCard(row, null, true), keys, el("p", { class: "muted" }, `${labelQueue.length - 1} more in this batch`));
}

async function giveLabel(name) {
  const row = labelQueue[0];
  if (!row) return;
  const result = await api("/api/label", { split: row.split, row_id: row.row_id, label: name });
  labelHistory.push(row);
  labelQueue.shift();
  setReviewed(result.reviewed);
  toast(`${row.split} row ${row.row_id}: ${name}`);
  renderLabelCard();
}

function skipRow() { labelQueue.push(labelQueue.shift()); renderLabelCard(); }

async function undoLabel() {
  const row = labelHistory.pop();
  if (!row) return;
  const result = await api("/api/label", { split: row.split, row_id: row.row_id, label: null });
  labelQueue.unshift(row);
  setReviewed(result.reviewed);
  toast(`label of ${row.split} row ${row.row_id} removed`);
  renderLabelCard();
}

document.addEventListener("keydown", (event) => {
  if (!location.hash.startsWith("#/label") || event.target.closest("input, select, textarea")) return;
  const k = Number(event.key);
  if (Number.isInteger(k) && k >= 1 && k <= SESSION.classes.length) giveLabel(SESSION.classes[k - 1]).catch(fail);
  else if (event.key === "s" || event.key === "ArrowRight") skipRow();
  else if (event.key === "u" || event.key === "Backspace") undoLabel().catch(fail);
});

function setReviewed(n) { document.getElementById("reviewed-count").textContent = `${n} rows labeled by you`; }

async function showSuggestions(payload) {
  const s = payload || await api("/api/suggestions");
  const compute = el("button", { id: "compute-suggestions" }, "Suggest LFs from the labeled rows");
  compute.addEventListener("click", async () => {
    compute.disabled = true;
    compute.textContent = "Computing…";
    try { await showSuggestions(await api("/api/suggestions/compute", {})); } catch (error) { fail(error); compute.disabled = false; }
  });
  const parts = [el("h2", {}, "Suggested labeling functions"),
    el("p", { class: "muted" }, s.lf_module ? `Accepted LFs are appended to ${s.lf_module}.` : "Start the app with --lf-module path/to/module.py to accept suggestions."),
    compute];
  if (s.summary) parts.push(el("p", {}, `${s.summary.n_candidates} candidates from ${s.summary.n_labeled} labeled rows, ${s.summary.n_passed_gate} passed the gate, ${s.suggestions.length} kept; held-out accuracy of the vote ${fmt(s.summary.accuracy_before)} → ${fmt(s.summary.accuracy_after)} (${s.summary.seconds} s).`));
  for (const item of s.suggestions) {
    const decide = (decision) => async () => {
      try {
        const result = await api("/api/suggestions/decide", { id: item.id, decision });
        toast(decision === "accepted" ? `${item.name} written to ${result.lf_module}` : `${item.name} rejected`);
        await showSuggestions();
      } catch (error) { fail(error); }
    };
    const stats = item.stats || {};
    parts.push(el("div", { class: "card suggestion", "data-id": item.id },
      el("div", {}, el("strong", {}, item.name), ` votes ${item.label_name ?? item.label} · ${item.description}`,
        item.decision ? el("span", { class: "chip" }, item.decision) : null),
      el("div", { class: "muted" }, `precision ${fmt(stats.precision)} (lower bound ${fmt(stats.precision_lb)}) on ${fmt(stats.support)} labeled rows · coverage ${fmt(stats.coverage)} · overlap ${fmt(stats.overlap)} · conflict ${fmt(stats.conflict)} · gain ${fmt(stats.gain)}`),
      el("pre", { class: "code" }, item.code),
      el("button", { class: "accept", disabled: !s.lf_module || item.decision === "accepted", onclick: decide("accepted") }, "Accept"), " ",
      el("button", { class: "secondary reject", disabled: item.decision === "rejected", onclick: decide("rejected") }, "Reject")));
  }
  if (s.decided.length) parts.push(el("h3", {}, "Decided"), table(s.decided, ["name", "decision", "id"]));
  show(parts);
}

async function showRefit(payload) {
  const r = payload || await api("/api/refit");
  const button = el("button", { id: "run-refit" }, "Refit the label model and the TF-IDF student");
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Refitting…";
    try { await showRefit(await api("/api/refit", {})); } catch (error) { fail(error); button.disabled = false; }
  });
  const parts = [el("h2", {}, "Refit"),
    el("p", { class: "muted" }, "Fits the label model and a TF-IDF student again on the run's votes plus the accepted LFs, with your labels as dev labels. Nothing in the run folder changes; the command below makes it permanent."),
    button];
  if (r.scores) {
    const rows = r.scores.map((s) => ({ split: s.split, method: s.method,
      accuracy_before: s.accuracy_before, accuracy_after: s.accuracy_after, accuracy_change: s.accuracy_after - s.accuracy_before,
      f1_before: s.f1_before, f1_after: s.f1_after, f1_change: s.f1_after - s.f1_before }));
    parts.push(el("p", { id: "refit-summary" }, `Refit in ${r.seconds} s with ${r.labels_used} labeled rows and ${r.new_sources.length} new LFs (${r.new_sources.join(", ") || "none"}); label model estimator: ${r.estimator ?? "–"}. ${r.student_note}.`),
      el("h3", {}, "Scores before and after"), table(rows, null, { id: "refit-scores", signed: ["accuracy_change", "f1_change"] }),
      el("h3", {}, "Rows whose class changed"), el("p", {}, Object.entries(r.changed).map(([s, n]) => `${s}: ${n}`).join(" · ")),
      r.changed_rows.map((row) => rowCard(row)),
      el("h3", {}, "Make it permanent"), el("pre", { class: "code" }, r.command));
  }
  show(parts);
}

// ---------------------------------------------------------------- routing
const PAGES = { overview: showOverview, sources: showSources, rows: showRows, label: showLabel, suggestions: () => showSuggestions(), refit: () => showRefit() };

function fail(error) {
  toast(`Error: ${error.message}`);
  console.error(error);
}

async function route() {
  const [path, query] = (location.hash.slice(2) || "overview").split("?");
  const page = PAGES[path] ? path : "overview";
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.id === `nav-${page}`));
  try {
    await PAGES[page](new URLSearchParams(query || ""));
    main().setAttribute("data-page", page);
  } catch (error) {
    main().replaceChildren(el("p", { class: "error" }, `Error: ${error.message}`));
  }
}

async function start() {
  SESSION = await api("/api/session");
  document.getElementById("run-name").textContent = `weaklabel review · ${SESSION.name}`;
  const overview = await api("/api/overview");
  setReviewed(overview.reviewed);
  window.addEventListener("hashchange", route);
  await route();
}

start().catch((error) => { main().replaceChildren(el("p", { class: "error" }, `Error: ${error.message}`)); });
