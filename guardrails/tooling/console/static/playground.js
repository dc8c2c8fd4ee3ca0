// The playground: edit a rules file (diagnostics as you type, from /api/check, the
// ruleset checked with this file as edited), pick a hook, write or load a payload,
// Evaluate the edited rules (never saved by evaluating), save with --write.
"use strict";

const pg = {
  files: {},        // name -> text as on disk
  edits: {},        // name -> text as edited
  current: null,
  checkSeq: 0,
  lastVerdict: null,
  write: false,
};

const $ = (id) => document.getElementById(id);

function lineStarts(text) {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") starts.push(i + 1);
  return starts;
}

function offsetOf(text, line, column) {
  const starts = lineStarts(text);
  return Math.min(text.length, (starts[line - 1] ?? text.length) + column - 1);
}

function selectSpan(d) {
  const area = $("rules-text");
  const text = area.value;
  const start = offsetOf(text, d.line, d.column);
  let end = offsetOf(text, d.end_line, d.end_column);
  if (end <= start) end = Math.min(text.length, start + 1);
  area.focus();
  area.setSelectionRange(start, end);
}

// the spans of this file's diagnostics, marked on a copy of the text under the editor
function markSpans(diags) {
  const text = $("rules-text").value;
  const spans = diags.map((d) => {
    const start = offsetOf(text, d.line, d.column);
    const end = Math.max(offsetOf(text, d.end_line, d.end_column), start + 1);
    return {start, end: Math.min(end, text.length), d};
  }).filter((s) => s.start < text.length).sort((a, b) => a.start - b.start);
  const marks = $("rules-marks");
  marks.replaceChildren();
  let at = 0;
  for (const s of spans) {
    if (s.start < at) continue;  // overlapping spans: the first one is marked
    marks.append(text.slice(at, s.start));
    marks.append(gr.el("mark", {class: s.d.severity, "data-code": s.d.code}, text.slice(s.start, s.end)));
    at = s.end;
  }
  marks.append(text.slice(at) + "\n");
  syncScroll();
}

function syncScroll() {
  const area = $("rules-text");
  $("rules-marks").scrollTop = area.scrollTop;
  $("rules-marks").scrollLeft = area.scrollLeft;
}

function showDiagnostics(data) {
  const box = $("diagnostics");
  const mine = data.diagnostics.filter((d) => d.file === pg.current);
  const other = data.diagnostics.filter((d) => d.file !== pg.current);
  const item = (d) => gr.el("div", {class: "diag " + d.severity, "data-code": d.code,
      title: "select it in the editor", onclick: () => d.file === pg.current && selectSpan(d)},
    gr.el("span", {class: "mono"}, `${d.file}:${d.line}:${d.column}`), " ",
    gr.badge(d.severity), " ", gr.el("span", {class: "code"}, d.code), " ", d.message,
    gr.el("pre", {}, d.rendered));
  gr.fill(box, ...mine.map(item), ...other.map(item));
  markSpans(mine);
  const status = $("check-status");
  if (!data.diagnostics.length) {
    gr.fill(status, gr.badge("ok"), " no problems");
  } else {
    gr.fill(status, gr.badge(data.errors ? "error" : "warning"),
      ` ${data.errors} error(s), ${data.warnings} warning(s)`);
  }
  const first = mine.find((d) => d.severity === "error");
  $("rules-text").dataset.firstError = first ? `${first.line}:${first.column}` : "";
}

async function check() {
  const seq = ++pg.checkSeq;
  gr.fill($("check-status"), "checking…");
  try {
    const data = await gr.api("/api/check", {file: pg.current, text: $("rules-text").value});
    if (seq === pg.checkSeq) showDiagnostics(data);
  } catch (err) {
    if (seq === pg.checkSeq) gr.showError($("diagnostics"), err);
  }
}
const checkSoon = gr.debounce(check, 300);

function openFile(name) {
  if (pg.current !== null) pg.edits[pg.current] = $("rules-text").value;
  pg.current = name;
  $("rules-text").value = pg.edits[name] ?? pg.files[name] ?? "";
  check();
}

async function loadRules() {
  const data = await gr.api("/api/rules");
  pg.write = data.write;
  const select = $("rules-file");
  for (const f of data.files) {
    pg.files[f.name] = f.text;
    select.append(gr.el("option", {value: f.name}, f.name));
  }
  select.addEventListener("change", () => openFile(select.value));
  if (data.files.length) openFile(data.files[0].name);
  for (const id of ["save-rules", "save-case"]) {
    if (!pg.write) {
      $(id).disabled = true;
      $(id).title = "read-only: start guardrails ui with --write to save";
    }
  }
}

async function loadHooks() {
  const data = await gr.api("/api/hooks");
  const select = $("hook");
  select.append(gr.el("option", {value: ""}, "pick a hook…"));
  pg.hooks = {};
  for (const h of data.hooks) {
    pg.hooks[h.name] = h;
    select.append(gr.el("option", {value: h.name}, `${h.name} (${h.origin})`));
  }
  select.addEventListener("change", showFacts);
}

function showFacts() {
  const hook = pg.hooks[$("hook").value];
  gr.fill($("hook-facts"), hook ? "facts: " + hook.facts.join(", ") : "");
}

async function loadPrefill() {
  const select = $("prefill");
  const [cases, calls] = await Promise.all([gr.api("/api/corpus/cases"), gr.api("/api/calls")]);
  if (cases.cases.length) {
    const group = gr.el("optgroup", {label: "corpus cases"});
    for (const c of cases.cases) {
      group.append(gr.el("option", {value: `case:${c.hook}/${c.name}`}, `${c.hook}/${c.name}`));
    }
    select.append(group);
  }
  if (calls.calls.length) {
    const group = gr.el("optgroup", {label: "recorded calls"});
    for (const c of calls.calls) {
      const label = `${c.time || "?"} ${c.hook} ${c.outcome}${c.blocked_by ? " by " + c.blocked_by : ""}`;
      group.append(gr.el("option", {value: `call:${c.call_id}`}, label));
    }
    select.append(group);
  }
  select.addEventListener("change", () => prefill(select.value));
}

async function prefill(value) {
  if (!value) return;
  try {
    if (value.startsWith("case:")) {
      const id = value.slice(5);
      const data = await gr.api(`/api/corpus/cases/${id}`);
      $("hook").value = data.hook;
      $("payload").value = data.text;
      $("case-name").value = data.name;
    } else {
      const data = await gr.api(`/api/calls/${encodeURIComponent(value.slice(5))}`);
      $("hook").value = data.hook;
      $("payload").value = JSON.stringify(data.payload, null, 2);
    }
    showFacts();
  } catch (err) {
    gr.showError($("result"), err);
  }
}

function describe(verdict) {
  return verdict.outcome === "block"
    ? `block by ${verdict.blocked_by} code ${verdict.code}` : verdict.outcome;
}

function showResult(data) {
  const v = data.verdict;
  pg.lastVerdict = v;
  const rows = v.rules.map((r) => gr.el("tr", {"data-rule": r.rule},
    gr.el("td", {class: "mono"}, r.rule), gr.el("td", {}, gr.badge(r.verdict)),
    gr.el("td", {class: "mono"}, r.code || ""), gr.el("td", {}, r.error || r.reason || ""),
    gr.el("td", {class: "mono muted"}, r.location)));
  const table = rows.length
    ? gr.el("table", {}, gr.el("tr", {}, ...["rule", "verdict", "code", "reason", "where"]
        .map((h) => gr.el("th", {}, h))), ...rows)
    : gr.el("p", {class: "muted"}, `no rules on ${v.hook}`);
  gr.fill($("result"),
    gr.el("div", {class: "row", id: "outcome"}, gr.badge(v.outcome), " ",
      gr.el("span", {class: "mono"}, describe(v)), v.reason ? ` — ${v.reason}` : ""),
    table,
    data.state.length ? gr.el("pre", {}, "state\n" + data.state.join("\n")) : null,
    gr.el("h2", {}, "explain"),
    gr.el("pre", {id: "explanation"}, data.explanation));
}

async function evaluate() {
  gr.fill($("result"), "evaluating…");
  try {
    const data = await gr.api("/api/evaluate", {
      file: pg.current, text: $("rules-text").value,
      hook: $("hook").value || null, payload: $("payload").value,
    });
    showResult(data);
  } catch (err) {
    pg.lastVerdict = null;
    gr.showError($("result"), err);
  }
}

async function saveRules() {
  const status = $("save-rules-status");
  try {
    await gr.api("/api/rules/save", {file: pg.current, text: $("rules-text").value});
    pg.files[pg.current] = $("rules-text").value;
    delete pg.edits[pg.current];
    gr.fill(status, gr.badge("ok"), ` saved ${pg.current}`);
  } catch (err) {
    gr.fill(status, gr.badge("error"), " " + err.message);
  }
}

async function saveCase() {
  const status = $("save-case-status");
  const body = {
    hook: $("hook").value, name: $("case-name").value, payload: $("payload").value,
    description: $("case-description").value || null,
  };
  if ($("case-expect").checked && pg.lastVerdict) body.expect = [describe(pg.lastVerdict)];
  try {
    const data = await gr.api("/api/corpus/save", body);
    gr.fill(status, gr.badge("ok"), ` saved ${data.saved}`);
  } catch (err) {
    gr.fill(status, gr.badge("error"), " " + err.message);
  }
}

// the edit travels in this tab's session storage, never saved to disk: the corpus page
// and the dashboard's replay panel offer it from there
function keepEdit() {
  sessionStorage.setItem("guardrails-edit", JSON.stringify({file: pg.current, text: $("rules-text").value}));
}

document.addEventListener("DOMContentLoaded", async () => {
  $("rules-text").addEventListener("input", () => { markSpans([]); checkSoon(); keepEdit(); });
  $("rules-text").addEventListener("scroll", syncScroll);
  $("evaluate").addEventListener("click", evaluate);
  $("save-rules").addEventListener("click", saveRules);
  $("save-case").addEventListener("click", saveCase);
  $("corpus-with-edit").addEventListener("click", () => {
    keepEdit();
    location.href = "/corpus?edit=1";
  });
  $("revert-rules").addEventListener("click", () => {
    delete pg.edits[pg.current];
    $("rules-text").value = pg.files[pg.current] ?? "";
    check();
  });
  try {
    await Promise.all([loadRules(), loadHooks()]);
    await loadPrefill();
    const wanted = new URLSearchParams(location.search).get("case");
    if (wanted) {
      $("prefill").value = `case:${wanted}`;
      await prefill(`case:${wanted}`);
    }
    document.body.dataset.ready = "1";
  } catch (err) {
    gr.showError($("diagnostics"), err);
  }
});
