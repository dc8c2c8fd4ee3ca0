// What every page shares: calling the console's API (the token rides in the cookie
// the first page load set) and building small bits of DOM safely (text, never HTML).
"use strict";

const gr = {
  async api(path, body) {
    const init = body === undefined ? {} : {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
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
