// The extension is a thin client: every language feature (diagnostics, completion, hover,
// definitions, formatting, code actions) comes from `guardrails lsp`, so the editor shows
// exactly what `guardrails check` and `guardrails fmt` say. The highlighting is the
// TextMate grammar in syntaxes/, which needs no server.
import * as fs from "fs";
import * as path from "path";
import * as vscode from "vscode";
import {
  CloseAction,
  CloseHandlerResult,
  ErrorAction,
  ErrorHandler,
  ErrorHandlerResult,
  LanguageClient,
  LanguageClientOptions,
  Message,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

const INSTALL_HINT = "pip install 'guardrails-rules[lsp]'";
const MAX_RESTARTS = 4;

let client: LanguageClient | undefined;
let output: vscode.OutputChannel;
let status: vscode.StatusBarItem;
// one message per failed start: the client's close handler and start() both see it
let failureReported = false;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("Guardrails");
  status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 0);
  status.command = "guardrails.showOutput";
  context.subscriptions.push(
    output,
    status,
    vscode.commands.registerCommand("guardrails.showOutput", () => output.show(true)),
    vscode.commands.registerCommand("guardrails.restartServer", () => restart()),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("guardrails.command") || event.affectsConfiguration("guardrails.args")) {
        void restart();
      }
    }),
    vscode.window.onDidChangeActiveTextEditor((editor) => showStatusFor(editor)),
  );
  showStatusFor(vscode.window.activeTextEditor);
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}

function showStatusFor(editor: vscode.TextEditor | undefined): void {
  if (editor?.document.languageId === "rules") {
    status.show();
  } else {
    status.hide();
  }
}

function setStatus(text: string, tooltip: string, error = false): void {
  status.text = text;
  status.tooltip = tooltip;
  status.backgroundColor = error ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
}

/**
 * The command line from the settings, `${workspaceFolder}` and `~` expanded; the default
 * `guardrails`, when it is not on PATH, is looked for in the workspace's virtualenv.
 */
function serverCommand(): { command: string; args: string[]; cwd: string | undefined } {
  const config = vscode.workspace.getConfiguration("guardrails");
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const expand = (value: string): string => {
    let out = value;
    if (folder) {
      out = out.split("${workspaceFolder}").join(folder);
    }
    if (out.startsWith("~/") && process.env.HOME) {
      out = path.join(process.env.HOME, out.slice(2));
    }
    return out;
  };
  let command = expand(config.get<string>("command", "guardrails").trim() || "guardrails");
  if (command === "guardrails" && folder && !onPath(command)) {
    command = projectVenvCommand(folder) ?? command;
  }
  const args = config.get<string[]>("args", ["lsp"]).map(expand);
  return { command, args, cwd: folder };
}

const WINDOWS = process.platform === "win32";

function commandExists(command: string): boolean {
  return command.includes("/") || command.includes("\\") ? fs.existsSync(command) : onPath(command);
}

function onPath(name: string): boolean {
  const names = WINDOWS ? [`${name}.exe`, `${name}.cmd`, name] : [name];
  return (process.env.PATH ?? "")
    .split(path.delimiter)
    .some((dir) => dir && names.some((n) => fs.existsSync(path.join(dir, n))));
}

/** VS Code seldom runs with the project's virtualenv activated: look in `.venv`/`venv`. */
function projectVenvCommand(folder: string): string | undefined {
  const bin = WINDOWS ? path.join("Scripts", "guardrails.exe") : path.join("bin", "guardrails");
  return [".venv", "venv"].map((v) => path.join(folder, v, bin)).find((c) => fs.existsSync(c));
}

async function start(): Promise<void> {
  const { command, args, cwd } = serverCommand();
  const commandLine = [command, ...args].join(" ");
  failureReported = false;
  if (!commandExists(command)) {
    // said here, before the client says only that it "couldn't create connection to server"
    reportFailure(commandLine, `"${command}" was not found`);
    return;
  }
  const serverOptions: ServerOptions = {
    command,
    args,
    transport: TransportKind.stdio,
    options: { cwd },
  };
  let initialized = false;
  let restarts = 0;
  const errorHandler: ErrorHandler = {
    error: (_error: Error, _message: Message | undefined, count: number | undefined): ErrorHandlerResult => ({
      action: count !== undefined && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
    }),
    closed: (): CloseHandlerResult => {
      // A server that never answered `initialize` will not start on a retry either: the
      // command is missing or it lacks the `lsp` extra (it says so on stderr).
      if (!initialized) {
        reportFailure(commandLine, "the server exited before it started");
        return { action: CloseAction.DoNotRestart, handled: true };
      }
      restarts += 1;
      if (restarts > MAX_RESTARTS) {
        reportFailure(commandLine, `the server stopped ${restarts} times`);
        return { action: CloseAction.DoNotRestart, handled: true };
      }
      output.appendLine(`The language server stopped; restarting it (${restarts}/${MAX_RESTARTS}).`);
      return { action: CloseAction.Restart, handled: true };
    },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "rules" },
      { scheme: "untitled", language: "rules" },
    ],
    synchronize: {
      // the ruleset is the whole directory: files changed on disk change its diagnostics
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.rules"),
    },
    outputChannel: output,
    errorHandler,
    initializationFailedHandler: (error: unknown): boolean => {
      const reason = error instanceof Error ? error.message : String(error);
      reportFailure(commandLine, `it did not initialize: ${reason}`);
      return false;
    },
  };
  client = new LanguageClient("guardrails", "Guardrails", serverOptions, clientOptions);
  setStatus("$(sync~spin) guardrails", `Starting ${commandLine}`);
  try {
    await client.start();
    // start() can resolve for a server that exited during `initialize`
    if (!client.isRunning()) {
      throw new Error("the server exited before it started");
    }
    initialized = true;
    setStatus("$(shield) guardrails", `Language server: ${commandLine}\nClick for its output.`);
    output.appendLine(`Started the language server: ${commandLine}`);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    reportFailure(commandLine, reason);
    const failed = client;
    client = undefined;
    // the client may still hold the half-started process
    await failed.stop().catch(() => undefined);
  }
}

function reportFailure(commandLine: string, reason: string): void {
  if (failureReported) {
    return;
  }
  failureReported = true;
  // quotes, not backticks: a notification shows its text as it is, Markdown unrendered
  const text =
    `Guardrails: could not run the language server "${commandLine}" (${reason}). ` +
    `Install it with "${INSTALL_HINT}" in the Python environment of your project, ` +
    `or set "guardrails.command" to the path of its "guardrails" executable.`;
  output.appendLine(text);
  setStatus("$(error) guardrails", `${text}\nClick for the output.`, true);
  status.show();
  void vscode.window.showErrorMessage(text, "Show Output", "Open Settings").then((choice) => {
    if (choice === "Show Output") {
      output.show(true);
    } else if (choice === "Open Settings") {
      void vscode.commands.executeCommand("workbench.action.openSettings", "guardrails.command");
    }
  });
}

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (running) {
    await running.stop().catch(() => undefined);
  }
}

async function restart(): Promise<void> {
  await stop();
  await start();
}
