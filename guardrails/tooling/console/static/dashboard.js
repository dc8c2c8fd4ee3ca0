// The rollout dashboard: /api/dashboard/* drawn as tables and Plotly plots.
// Every string from a log goes into the page as text (gr.el), and into a plot's
// labels escaped, since Plotly reads a few HTML tags in them.
"use strict";

const dash = {
  summary: null,
  timeline: null,
  // the playground's unsaved edit, {file, text}, as its own endpoints take it
  EDIT_KEY: "guardrails-edit",

  pct(x) { return x === null || x === undefined ? "n/a" : (100 * x).toFixed(2) + "%"; },
  label(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  },
  num(value) { return gr.el("td", {class: "num"}, value); },
  table(headers, rows) {
    const head = gr.el("tr", {}, ...headers.map(([h, cls]) => gr.el("th", cls ? {class: cls} : {}, h)));
    return gr.el("table", {}, gr.el("thead", {}, head), gr.el("tbody", {}, ...rows));
  },
  distinct(d) { return d ? (d.at_least ? "≥ " : "") + d.count : "0"; },

  thresholds() {
    const params = new URLSearchParams();
    const rate = document.getElementById("max-rate").value;
    const samples = document.getElementById("min-samples").value;
    if (rate !== "") params.set("max_rate", rate);
    if (samples !== "") params.set("min_samples", samples);
    return params.toString();
  },

  async load() {
    const overview = document.getElementById("overview-body");
    try {
      const query = dash.thresholds();
      dash.summary = await gr.api("/api/dashboard/summary" + (query ? "?" + query : ""));
      dash.timeline = await gr.api("/api/dashboard/timeline");
    } catch (err) {
      gr.showError(overview, err);
      document.body.dataset.dashboard = "error";
      return;
    }
    dash.renderOverview(overview);
    dash.renderRules();
    dash.renderGates(dash.summary);
    dash.renderPicker();
    dash.plotFires();
    dash.plotRule();
    document.body.dataset.dashboard = "ready";
    dash.replay(null);
  },

  renderOverview(node) {
    const s = dash.summary;
    const calls = Object.values(s.calls).reduce((a, b) => a + b, 0);
    const figure = (value, what) => gr.el("div", {class: "figure"}, gr.el("b", {}, value), what);
    const time = s.time.first ? `${s.time.first} → ${s.time.last}` : "no timed records";
    const notes = [];
    if (s.skipped_lines) {
      notes.push(gr.el("div", {class: "note"}, `${s.skipped_lines} unreadable lines skipped (torn or corrupt)`));
    }
    if (!calls) {
      notes.push(gr.el("div", {class: "note"}, "no call records: rates need a log written with load(..., capture=...)"));
    }
    if (s.rules_error) {
      notes.push(gr.el("div", {class: "note error"}, "the rules do not load, so gates are not shown:"),
        gr.el("pre", {}, s.rules_error));
    }
    gr.fill(node,
      gr.el("div", {class: "figures"},
        figure(s.records, "records"), figure(calls, "calls"),
        figure(dash.distinct(s.audience.users), "users"),
        figure(dash.distinct(s.audience.tenants), "tenants"),
        figure(s.time.step, "per bucket")),
      gr.el("div", {class: "muted"}, `logs: ${s.logs.join(", ")} · ${time}`),
      ...notes);
    node.classList.remove("muted");
  },

  renderRules() {
    const s = dash.summary;
    const rows = s.rules.map(r => gr.el("tr", {"data-rule": r.rule},
      gr.el("td", {}, r.rule), gr.el("td", {}, r.hook),
      dash.num(r.evaluations), dash.num(r.skipped), dash.num(r.fires),
      ...s.verdicts.map(v => dash.num(r[v])),
      dash.num(dash.pct(r.rate)),
      dash.num(dash.distinct(r.users)), dash.num(dash.distinct(r.tenants)),
      gr.el("td", {}, r.top_codes.map(c => `${c.code} (${c.count})`).join(", ") || "-")));
    const verdicts = s.verdicts.map(v => [v.replace("_", "-"), "num"]);
    gr.fill(document.getElementById("rules-table"), dash.table(
      [["rule"], ["hook"], ["evals", "num"], ["skipped", "num"], ["fires", "num"], ...verdicts,
        ["rate", "num"], ["users", "num"], ["tenants", "num"], ["top codes"]], rows));
    const hooks = Object.entries(s.calls).map(([hook, n]) =>
      gr.el("tr", {}, gr.el("td", {}, hook), dash.num(n)));
    gr.fill(document.getElementById("hooks-table"),
      hooks.length ? dash.table([["hook"], ["calls", "num"]], hooks)
        : gr.el("p", {class: "muted"}, "no call records"));
    const codes = new Map();
    for (const r of s.rules) for (const c of r.top_codes) codes.set(c.code, (codes.get(c.code) || 0) + c.count);
    const top = [...codes.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
    gr.fill(document.getElementById("codes-table"),
      top.length ? dash.table([["code"], ["fires", "num"]],
        top.map(([code, n]) => gr.el("tr", {}, gr.el("td", {}, code), dash.num(n))))
        : gr.el("p", {class: "muted"}, "no codes"));
  },

  renderGates(answer) {
    const first = answer.gates[0];
    const rate = document.getElementById("max-rate");
    const samples = document.getElementById("min-samples");
    if (first && rate.value === "") rate.value = first.max_rate;
    if (first && samples.value === "") samples.value = first.min_samples;
    const node = document.getElementById("gates-table");
    if (!answer.gates.length) {
      gr.fill(node, gr.el("p", {class: "muted"},
        answer.rules_error ? "the rules do not load" : "no rule in audit mode"));
      return;
    }
    const rows = answer.gates.map(g => gr.el("tr", {"data-rule": g.rule},
      gr.el("td", {}, g.rule),
      dash.num(g.evaluations), dash.num(g.would_blocks), dash.num(dash.pct(g.rate)),
      dash.num(`≤ ${dash.pct(g.max_rate)}, ≥ ${g.min_samples}`),
      gr.el("td", {}, gr.badge(g.allowed ? "pass" : "fail")),
      gr.el("td", {}, g.reasons.join("; ") || "ready to promote"),
      gr.el("td", {class: "cmd"}, gr.el("code", {}, g.command))));
    gr.fill(node, dash.table([["rule"], ["samples", "num"], ["would-blocks", "num"],
      ["rate", "num"], ["gate", "num"], ["status"], ["why"], ["CLI"]], rows));
  },

  async applyGates(event) {
    event.preventDefault();
    const node = document.getElementById("gates-table");
    try {
      dash.renderGates(await gr.api("/api/dashboard/gates?" + dash.thresholds()));
    } catch (err) {
      gr.showError(node, err);
    }
  },

  renderPicker() {
    const pick = document.getElementById("rule-pick");
    const rows = dash.timeline.series;
    const audit = new Set(dash.summary.gates.map(g => g.rule));
    const chosen = rows.find(r => audit.has(r.rule)) || rows[0];
    gr.fill(pick, ...rows.map((r, i) => gr.el("option", {value: String(i)}, `${r.rule} (${r.hook})`)));
    if (chosen) pick.value = String(rows.indexOf(chosen));
  },

  layout(extra) {
    return Object.assign({
      margin: {l: 48, r: 48, t: 30, b: 40}, legend: {orientation: "h", y: -0.2},
      xaxis: {type: "date"}, yaxis: {title: {text: "fires"}, rangemode: "tozero"},
    }, extra);
  },

  config: {displaylogo: false, responsive: true},

  plotFires() {
    const t = dash.timeline;
    const busiest = t.series.filter(r => r.fires.some(n => n)).slice(0, 8);
    const traces = busiest.map(r => ({
      type: "bar", x: t.buckets, y: r.fires, name: dash.label(`${r.rule} (${r.hook})`),
    }));
    Plotly.newPlot("plot-fires", traces, dash.layout({barmode: "stack", bargap: 0.1}), dash.config);
  },

  plotRule() {
    const t = dash.timeline;
    const r = t.series[Number(document.getElementById("rule-pick").value)];
    if (!r) { Plotly.newPlot("plot-rule", [], dash.layout({}), dash.config); return; }
    const audit = r.rate_of === "would_block";
    const traces = [
      {type: "bar", x: t.buckets, y: audit ? r.would_block : r.fires,
        name: audit ? "would-blocks" : "fires", marker: {color: audit ? "#9a6700" : "#b3261e"}},
      {type: "scatter", mode: "lines+markers", x: t.buckets, y: r.rate.map(x => x === null ? null : 100 * x),
        name: (audit ? "would-block" : "fire") + " rate (% of the hook's calls)", yaxis: "y2",
        line: {color: "#2657b8"}, connectgaps: false},
    ];
    Plotly.newPlot("plot-rule", traces, dash.layout({
      yaxis: {title: {text: audit ? "would-blocks" : "fires"}, rangemode: "tozero"},
      yaxis2: {title: {text: "rate %"}, overlaying: "y", side: "right", rangemode: "tozero"},
    }), dash.config);
  },

  playgroundEdit() {
    try {
      const edit = JSON.parse(sessionStorage.getItem(dash.EDIT_KEY) || "null");
      return edit && typeof edit.file === "string" && typeof edit.text === "string" ? edit : null;
    } catch (_) {
      return null;
    }
  },

  async replay(edit) {
    const node = document.getElementById("replay-body");
    gr.fill(node, gr.el("span", {class: "muted"}, "Replaying the logged calls…"));
    document.body.dataset.replay = "running";
    try {
      const answer = edit ? await gr.api("/api/dashboard/replay", edit)
        : await gr.api("/api/dashboard/replay");
      dash.renderReplay(node, answer);
      document.body.dataset.replay = "ready";
    } catch (err) {
      gr.showError(node, err);
      document.body.dataset.replay = "error";
    }
  },

  renderReplay(node, a) {
    const who = a.candidate !== "edited" ? "the console's rules"
      : a.baseline === "rules" ? "the playground's edit against the saved rules"
      : "the playground's edit against what the log recorded";
    const parts = [gr.el("p", {id: "replay-summary"},
      `${who}: ${a.cases} calls replayed, ${a.not_replayable} not replayable, ${a.changed} changed`)];
    for (const m of a.missing) {
      parts.push(gr.el("div", {class: "note"}, `not replayable: ${m.calls} calls where ${m.rule} reads ${m.fact} (${m.why})`));
    }
    if (a.judged_rule_by_rule) {
      parts.push(gr.el("div", {class: "note", id: "replay-alone"},
        `judged rule by rule: ${a.judged_rule_by_rule} calls the log masked too much of to replay whole, ` +
        `${a.rule_changed} where a changed rule alone decides differently`));
    }
    const unjudged = Object.entries(a.not_replayable_for_changed_rules);
    if (unjudged.length) {
      parts.push(gr.el("div", {class: "note"}, "changed rules not judged on every call: " +
        unjudged.map(([rule, n]) => `${rule} (${n} calls)`).join(", ")));
    }
    if (a.rules.length) {
      const rows = a.rules.map(r => gr.el("tr", {"data-rule": r.rule},
        gr.el("td", {}, r.rule), dash.num(r.newly_blocked), dash.num(r.newly_allowed),
        dash.num(r.changed_block), dash.num(r.rule_result),
        gr.el("td", {}, ...r.examples.map(e => gr.el("div", {class: "example mono"},
          `${e.kind}: ${e.call} (${e.hook}): ${e.before} → ${e.after}` + (e.reason ? ` — ${e.reason}` : ""))))));
      parts.push(dash.table([["rule"], ["newly blocked", "num"], ["newly allowed", "num"],
        ["changed block", "num"], ["changed alone", "num"], ["examples"]], rows));
    } else {
      parts.push(gr.el("p", {class: "muted"}, "no verdict changed"));
    }
    gr.fill(node, ...parts);
    node.classList.remove("muted");
  },
};

document.getElementById("gate-form").addEventListener("submit", dash.applyGates);
document.getElementById("rule-pick").addEventListener("change", dash.plotRule);
document.getElementById("replay-run").addEventListener("click", () => dash.replay(null));
if (dash.playgroundEdit()) {
  const button = document.getElementById("replay-edits");
  button.hidden = false;
  button.textContent = `Replay the playground's edit of ${dash.playgroundEdit().file}`;
  const against = document.getElementById("replay-against");
  against.hidden = false;
  button.addEventListener("click", () => dash.replay({...dash.playgroundEdit(), against: against.value}));
}
dash.load();
