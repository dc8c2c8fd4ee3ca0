// What every page shares: calling the console's API and building small bits of DOM
// safely (text, never HTML). The API takes the token as a bearer only (guard.py):
// the printed URL's page load hands it over in the fragment, and it is kept in this
// origin's localStorage, which no other port of 127.0.0.1 can read.
"use strict";

const TOKEN_KEY = "guardrails-console-token";
(() => {
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (given) {
    localStorage.setItem(TOKEN_KEY, given);
    history.replaceState(null, "", location.pathname + location.search);
  }
})();

const gr = {
  async api(path, body) {
    const token = localStorage.getItem(TOKEN_KEY);
    const headers = token ? {Authorization: "Bearer " + token} : {};
    const init = body === undefined ? {headers} : {
      method: "POST", headers: {...headers, "Content-Type": "application/json"},
      body: JSON.stringify(body),
    };
    const res = await fetch(path, {credentials: "same-origin", ...init});
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (!res.ok) {
      const err = (data && data.error) || {code: "http_" + res.status, message: res.statusText};
      throw Object.assign(new Error(err.message), {code: err.code, status: res.status});
    }
    return data;
  },
  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  },
  badge(text, kind) { return gr.el("span", {class: "badge " + (kind || text)}, text); },
  fill(node, ...children) { node.replaceChildren(); for (const c of children) if (c) node.append(c); },
  debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  },
  showError(node, err) { gr.fill(node, gr.el("div", {class: "note error"}, err.message)); },
};
