#!/usr/bin/env node
// Tokenizes texts with the extension's TextMate grammar through the engine VS Code runs
// (vscode-textmate on vscode-oniguruma), so tests/test_vscode_grammar.py checks what an
// editor shows, not a reimplementation of it.
//
// stdin:  a JSON list of texts
// stdout: a JSON list, per text a list of lines, per line a list of [start, end, scopes]
//         (offsets in UTF-16 code units within the line, scopes outermost first)
//
// One process tokenizes every text, so the test pays node's start-up once.
"use strict";

const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const root = path.join(__dirname, "..");
const grammarPath = path.join(root, "syntaxes", "rules.tmLanguage.json");

async function main() {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== "source.rules") return null;
      const content = fs.readFileSync(grammarPath, "utf8");
      return vsctm.parseRawGrammar(content, grammarPath);
    },
  });
  const grammar = await registry.loadGrammar("source.rules");
  const texts = JSON.parse(fs.readFileSync(0, "utf8"));
  const out = texts.map((text) => {
    let state = vsctm.INITIAL;
    return text.split(/\r?\n/).map((line) => {
      const result = grammar.tokenizeLine(line, state);
      state = result.ruleStack;
      return result.tokens.map((t) => [t.startIndex, Math.min(t.endIndex, line.length), t.scopes]);
    });
  });
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
