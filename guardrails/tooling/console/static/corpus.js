// The corpus view: every case with its expectation and verdict; a case's snapshot,
// its text now and the diff when they differ (what `guardrails test` fails on).
"use strict";

const cv = {data: null};

function caseRow(c) {
  return gr.el("tr", {"data-case": c.id, class: "case", onclick: () => showCase(c)},
    gr.el("td", {}, gr.badge(c.status)),
    gr.el("td", {class: "mono"}, c.id),
    gr.el("td", {class: "mono"}, (c.expect || []).join("; ") || "—"),
    gr.el("td", {class: "mono"}, c.outcome || ""),
    gr.el("td", {}, c.description || ""));
}

function render() {
  const only = document.getElementById("failing-only").checked;
  const cases = cv.data.cases.filter((c) => !only || c.status !== "pass");
  const head = gr.el("tr", {}, ...["", "case", "expect", "outcome now", "description"]
    .map((h) => gr.el("th", {}, h)));
  gr.fill(document.getElementById("cases"), head, ...cases.map(caseRow));
}

function diffView(lines) {
  const pre = gr.el("pre", {class: "diff"});
  for (const line of lines) {
    const kind = line.startsWith("+") && !line.startsWith("+++") ? "add"
      : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
    pre.append(gr.el("span", {class: kind}, line + "\n"));
  }
  return pre;
}

function showCase(c) {
  const box = document.getElementById("case-detail");
  box.hidden = false;
  const open = gr.el("a", {href: `/?case=${encodeURIComponent(c.hook)}/${encodeURIComponent(c.name)}`},
    "open in the playground");
  gr.fill(box,
    gr.el("h2", {}, c.id, " ", gr.badge(c.status)),
    gr.el("p", {}, open),
    c.problems.length ? gr.el("div", {class: "note error", id: "case-problems"}, c.problems.join("\n")) : null,
    c.diff && c.diff.length ? gr.el("div", {}, gr.el("h2", {}, "diff (snapshot → now)"), diffView(c.diff)) : null,
    gr.el("div", {class: "grid"},
      gr.el("div", {}, gr.el("h2", {}, "snapshot"),
        gr.el("pre", {id: "case-snapshot"}, c.snapshot ?? "(no snapshot stored)")),
      gr.el("div", {}, gr.el("h2", {}, "now"), gr.el("pre", {id: "case-current"}, c.current || ""))));
  box.scrollIntoView({block: "nearest"});
}

document.addEventListener("DOMContentLoaded", async () => {
  const summary = document.getElementById("corpus-summary");
  document.getElementById("failing-only").addEventListener("change", () => cv.data && render());
  const stored = new URLSearchParams(location.search).get("edit") && sessionStorage.getItem("guardrails-edit");
  const edit = stored ? JSON.parse(stored) : null;
  try {
    cv.data = edit ? await gr.api("/api/corpus/run", edit) : await gr.api("/api/corpus");
    if (!cv.data.corpus) {
      gr.fill(summary, "no corpus: start guardrails ui with --corpus DIR");
    } else {
      const n = cv.data.cases.length;
      gr.fill(summary, `${n} case(s), `, gr.badge(cv.data.failing ? "fail" : "ok"),
        ` ${cv.data.failing} failing` + (cv.data.snapshots ? "" : " (snapshots not compared: install the test extra)"));
      summary.append(gr.el("span", {class: "note", id: "edit-note"}, edit
        ? `with the playground's edit of ${edit.file} (not saved)` : "with the rules on disk"));
      const failing = cv.data.cases.find((c) => c.status !== "pass");
      if (edit && failing) document.getElementById("failing-only").checked = true;
      render();
      if (failing) showCase(failing);
    }
  } catch (err) {
    gr.showError(summary, err);
  }
  document.body.dataset.ready = "1";
});
