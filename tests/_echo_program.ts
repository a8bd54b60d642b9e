// Runs examples/echo.ts as a program under the runtime running the tests, for the tests of the example's contract.
import assert from "node:assert/strict";
import { type ChildProcessByStdio, spawn } from "node:child_process";
import type { Readable } from "node:stream";
import type { SocketAddress } from "../mod.ts";
import { REPO_ROOT, RUNTIME, within } from "./_helpers.ts";

/** The command that runs the program `path` (`DIR/NAME.ts`, from the repository's root) under this runtime. */
export function programCommand(path: string, args: readonly string[]): [string, string[]] {
  if (RUNTIME === "deno") {
    const deno = (globalThis as unknown as { Deno: { execPath(): string } }).Deno;
    return [deno.execPath(), ["run", "-A", "--unstable-net", path, ...args]];
  }
  if (RUNTIME === "bun") return [process.execPath, [path, ...args]];
  return [process.execPath, [`dist/${path.replace(/\.ts$/, ".js")}`, ...args]];
}

/** The command that runs examples/NAME.ts under this runtime. */
function exampleCommand(name: string, args: readonly string[]): [string, string[]] {
  return programCommand(`examples/${name}.ts`, args);
}

export interface EchoProgram {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** Resolves with the exit code and signal. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  readonly stdout: () => string;
  readonly stderr: () => string;
}

/** Starts examples/echo.ts with `args`; with `fileLimit`, under that limit of open descriptors (`ulimit -n`). */
export function startEcho(args: readonly string[], fileLimit?: number): EchoProgram {
  return startExample("echo", args, fileLimit);
}

/**
 * Starts examples/NAME.ts (its build under Node) with `args`: the other examples, with the same contract. With
 * `fileLimit`, under that limit of open descriptors (`ulimit -n`). With `wrapper`, that command runs first and is given
 * the example's command line to run (`python3 -c CODE`, `systemd-socket-activate -l ADDRESS`).
 */
export function startExample(
  name: string,
  args: readonly string[],
  fileLimit?: number,
  wrapper: readonly string[] = [],
): EchoProgram {
  let [command, commandArgs] = exampleCommand(name, args);
  if (fileLimit !== undefined) {
    commandArgs = ["-c", `ulimit -n ${fileLimit} && exec "$@"`, "sh", command, ...commandArgs];
    command = "sh";
  }
  if (wrapper.length > 0) {
    commandArgs = [...wrapper.slice(1), command, ...commandArgs];
    command = wrapper[0];
  }
  const child = spawn(command, commandArgs, {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal }))
  );
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** Waits for the one line `listening on ADDRESS` and returns the address. */
export async function listeningAddress(program: EchoProgram): Promise<SocketAddress> {
  const line = await within(
    20000,
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const end = program.stdout().indexOf("\n");
        if (end >= 0) resolve(program.stdout().slice(0, end));
      };
      program.child.stdout.on("data", check);
      check();
      void program.exited.then(({ code }) =>
        reject(new Error(`echo exited (${code}) before listening: ${program.stderr()}`))
      );
    }),
    "the `listening on` line",
  );
  const match = /^listening on (.+)$/.exec(line);
  assert.ok(match, `unexpected first line ${JSON.stringify(line)}`);
  const address = match[1];
  const inet = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  return inet && !address.startsWith("/") ? [inet[1], Number(inet[2])] : address;
}

/** Stops a program that is still running (used in `finally`). */
export async function stopEcho(program: EchoProgram): Promise<void> {
  if (program.child.exitCode === null && program.child.signalCode === null) program.child.kill("SIGKILL");
  await within(10000, program.exited);
}
