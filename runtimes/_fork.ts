/**
 * Child processes for the forking mix-in, on all three runtimes: `node:child_process` (which Deno and Bun implement)
 * starts a child of the runtime running this code, and accepted `node:net` sockets are handed to it over the IPC
 * channel: the child gets the socket itself (its file descriptor), so no byte passes through the parent.
 *
 * How each runtime starts a child:
 * - **Node**: `fork()` of `_fork_child_main.js` (the compiled one, from `dist/`, on Node 20), which imports the handler
 *   module by URL.
 * - **Bun**: `fork()` of `_fork_child_main.ts`.
 * - **Deno**: `deno run --no-prompt <denoFlags> <data: module>`, where the data module statically imports the handler
 *   module and `_fork_child.ts`. Static imports load without read permission, so a child needs no permission at all
 *   to load its handler; it gets exactly `denoFlags`. (Deno's `fork()`, and `spawn()` of `deno run` without any
 *   permission flag, give the child every permission: when `denoFlags` holds no permission flag, `--deny-run` is
 *   added, which grants nothing and keeps Deno from adding `--allow-all`.)
 *
 * How a socket is handed over: Node and Deno send the socket's native handle (sending the `net.Socket` makes the child
 * wrap it before its `message` listener runs, and a connection whose client already sent FIN then arrives destroyed,
 * its write side ended); Bun sends the `net.Socket`, the only handle type it accepts. The parent closes its copy as
 * soon as the handle is written to the channel, as Python's parent calls `close_request` after `fork()`.
 *
 * @module
 */
import {
  type ChildProcess as NodeChildProcess,
  fork,
  type Serializable,
  spawn,
  type StdioOptions,
} from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { siblingModuleUrl } from "../src/module_url.ts";
import type {
  ChildExit,
  ChildProcess,
  ChildProcesses,
  ChildProcessEvents,
  ChildStartOptions,
  StreamSocket,
} from "../src/transport.ts";
import { NodeStreamListener } from "./_node_stream.ts";
import { NodeStreamSocket } from "./_node_stream_socket.ts";

/** How long after `exit` a child's `close` (its IPC channel drained) may take before the exit is reported anyway. */
const CLOSE_GRACE = 1_000;

/** stdin ignored; stdout and stderr shared with the parent (handler output and tracebacks show up); the IPC channel. */
const STDIO: StdioOptions = ["ignore", "inherit", "inherit", "ipc"];

type RunningRuntime = "deno" | "bun" | "node";

function runningRuntime(): RunningRuntime {
  const global = globalThis as { Deno?: unknown; Bun?: unknown };
  return global.Deno !== undefined ? "deno" : global.Bun !== undefined ? "bun" : "node";
}

/** Child processes of the runtime running this code. Shared by the three adapters. */
export const childProcesses: ChildProcesses = {
  listenStream: (options) => NodeStreamListener.listen(options, false),
  async detach(socket: StreamSocket): Promise<boolean> {
    if (!(socket instanceof NodeStreamSocket)) return false;
    await socket.detach();
    return true;
  },
  start: startChild,
};

function startChild(options: ChildStartOptions, events: ChildProcessEvents): ChildProcess {
  const runtime = runningRuntime();
  let child: NodeChildProcess;
  try {
    if (runtime === "deno") {
      const deno = (globalThis as unknown as { Deno: { execPath(): string } }).Deno;
      child = spawn(deno.execPath(), denoArguments(options), { stdio: STDIO });
    } else {
      const main = fileURLToPath(siblingModuleUrl(import.meta.url, "_fork_child_main"));
      const execArgv = runtime === "node" ? moduleLoadingFlags(process.execArgv) : [];
      const role = options.role ?? "forking";
      child = fork(main, [options.handler.url, options.handler.exportName, role], { stdio: STDIO, execArgv });
    }
  } catch (error) {
    const startError = error instanceof Error ? error : new Error(String(error));
    queueMicrotask(() => events.exit({ pid: 0, code: null, signal: null, startError }));
    return deadChild(startError);
  }
  return new ForkedChild(child, runtime, events);
}

/** `deno run` arguments: the flags asked for (never an implicit `--allow-all`) and a data module as entry. */
export function denoArguments(options: ChildStartOptions): string[] {
  const flags = [...options.denoFlags];
  if (!flags.some(isPermissionFlag)) flags.push("--deny-run");
  const entry = [
    `import * as handlerModule from ${JSON.stringify(options.handler.url)};`,
    `import { runChild } from ${JSON.stringify(siblingModuleUrl(import.meta.url, "_fork_child"))};`,
    `await runChild(${JSON.stringify(options.handler)}, handlerModule, ${JSON.stringify(options.role ?? "forking")});`,
  ].join("\n");
  return ["run", "--no-prompt", ...flags, `data:application/javascript;base64,${btoa(entry)}`];
}

function isPermissionFlag(flag: string): boolean {
  return /^(-A$|--allow-|--deny-|-[RWNEISP](=|$)|--permission-set)/.test(flag);
}

/**
 * The parent's Node flags that decide how modules load (type stripping, loaders, conditions), which the child needs to
 * load the same modules; other flags (`--test`, `--inspect`, `--eval`, …) are not the child's business.
 */
function moduleLoadingFlags(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  const withValue = /^(--import|--require|-r|--loader|--experimental-loader|--conditions|-C)$/;
  const keep =
    /^(--(no-)?experimental-|--import=|--require=|--loader=|--conditions=|--enable-source-maps$|--no-warnings$)/;
  for (let index = 0; index < execArgv.length; index++) {
    const flag = execArgv[index];
    if (withValue.test(flag) && index + 1 < execArgv.length) kept.push(flag, execArgv[++index]);
    else if (keep.test(flag)) kept.push(flag);
  }
  return kept;
}

class ForkedChild implements ChildProcess {
  readonly pid: number;
  #child: NodeChildProcess;
  #runtime: RunningRuntime;
  #exited = false;

  constructor(child: NodeChildProcess, runtime: RunningRuntime, events: ChildProcessEvents) {
    this.#child = child;
    this.#runtime = runtime;
    this.pid = child.pid ?? 0;
    let reported = false;
    const report = (exit: ChildExit): void => {
      if (reported) return;
      reported = true;
      this.#exited = true;
      events.exit(exit);
    };
    child.on("message", (message: unknown) => events.message(message));
    // A spawn failure (no such executable, too many processes) comes as `error` without `exit`.
    child.on("error", (startError: Error) => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
        report({ pid: this.pid, code: child.exitCode, signal: child.signalCode, startError });
      }
    });
    child.once("exit", (code: number | null, signal: NodeJS.Signals | null) => {
      const exit = { pid: this.pid, code, signal };
      // `close` comes once the IPC channel is drained too: a child's last message (`done`) is delivered before it.
      const timer = setTimeout(() => report(exit), CLOSE_GRACE);
      child.once("close", () => {
        clearTimeout(timer);
        report(exit);
      });
    });
  }

  send(message: unknown, socket?: StreamSocket): Promise<void> {
    const child = this.#child;
    return new Promise<void>((resolve, reject) => {
      const done = (error: Error | null): void => (error ? reject(error) : resolve());
      try {
        if (socket === undefined) {
          child.send(message as Serializable, done);
          return;
        }
        if (!(socket instanceof NodeStreamSocket)) {
          throw new TypeError("only a socket from childProcesses.listenStream can be sent");
        }
        const raw = socket.raw;
        const handle = this.#runtime === "bun" ? raw : (raw as unknown as { _handle?: unknown })._handle;
        if (handle === undefined || handle === null) throw new Error("the connection is already closed");
        child.send(message as Serializable, handle as never, (error: Error | null) => {
          // Written to the channel (or failed): either way this process's copy goes, as Python's close_request.
          socket.release();
          done(error);
        });
      } catch (error) {
        reject(error);
      }
    });
  }

  kill(signal: "SIGTERM" | "SIGKILL"): void {
    // Only this object's own child, and only while it runs: its pid may belong to another process once it exited.
    if (!this.#exited && this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(signal);
  }

  unref(): void {
    this.#child.unref();
    (this.#child as unknown as { channel?: { unref?(): void } }).channel?.unref?.();
  }
}

function deadChild(failure: Error): ChildProcess {
  return {
    pid: 0,
    send: () => Promise.reject(failure),
    kill: () => {},
    unref: () => {},
  };
}
