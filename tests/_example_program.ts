// Runs an example other than echo as a program under the runtime running the tests (the RPC examples), with the same
// contract helpers as tests/_echo_program.ts.
import { spawn } from "node:child_process";
import type { EchoProgram } from "./_echo_program.ts";
import { REPO_ROOT, RUNTIME } from "./_helpers.ts";

/** Starts `examples/NAME.ts` (or its build under Node) with `args`. */
export function startExample(name: string, args: readonly string[]): EchoProgram {
  let command: string;
  let commandArgs: string[];
  if (RUNTIME === "deno") {
    const deno = (globalThis as unknown as { Deno: { execPath(): string } }).Deno;
    [command, commandArgs] = [deno.execPath(), ["run", "-A", "--unstable-net", `examples/${name}.ts`, ...args]];
  } else if (RUNTIME === "bun") [command, commandArgs] = [process.execPath, [`examples/${name}.ts`, ...args]];
  else [command, commandArgs] = [process.execPath, [`dist/examples/${name}.js`, ...args]];
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
