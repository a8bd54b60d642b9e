// Real RPC peers for the tests: running programs, and building the C client rpcgen writes from examples/calc.x
// against libtirpc (into a temporary directory: binaries are never committed).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./_helpers.ts";

/** Runs a program; resolves with its output (stdout then stderr) and exit code, whatever the code. */
export function run(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; timeout?: number } = {},
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      timeout: options.timeout ?? 60_000,
      maxBuffer: 1 << 24,
    }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

const TOOLS = ["/usr/bin/rpcgen", "/usr/bin/gcc", "/usr/include/tirpc/rpc/rpc.h", "/usr/sbin/rpcinfo"];
const missing = TOOLS.filter((path) => !existsSync(path));
/** The C sources the client is built from: repository files that tsc does not copy to dist/. */
const SOURCES = [join(REPO_ROOT, "examples", "calc.x"), join(REPO_ROOT, "tests", "fixtures", "rpc", "calc_cli.c")];
/** Why the tests against libtirpc and rpcinfo cannot run here, or `false`. */
export const RPC_TOOLS_MISSING: string | false = missing.length > 0
  ? `needs ${missing.join(", ")} (apt-get install rpcsvc-proto libtirpc-dev rpcbind)`
  : !SOURCES.every((path) => existsSync(path))
  ? `needs the repository's ${SOURCES.map((path) => path.slice(REPO_ROOT.length + 1)).join(" and ")} (not in this copy)`
  : false;

/** Builds the rpcgen client of calc.x into a temporary directory: the binary's path, and how to remove it. */
export async function buildCalcClient(): Promise<{ client: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), "sockserve-rpcgen-"));
  // rpcgen names the header in the C files as it was given the .x file: run it in the build directory.
  copyFileSync(join(REPO_ROOT, "examples", "calc.x"), join(dir, "calc.x"));
  for (const [flag, out] of [["-h", "calc.h"], ["-c", "calc_xdr.c"], ["-l", "calc_clnt.c"]]) {
    const made = await run("/usr/bin/rpcgen", [flag, "calc.x", "-o", out], { cwd: dir });
    assert.equal(made.code, 0, `rpcgen ${flag}: ${made.out}`);
  }
  const binary = join(dir, "calc_cli");
  const built = await run("/usr/bin/gcc", [
    "-I/usr/include/tirpc",
    `-I${dir}`,
    "-o",
    binary,
    join(REPO_ROOT, "tests", "fixtures", "rpc", "calc_cli.c"),
    join(dir, "calc_clnt.c"),
    join(dir, "calc_xdr.c"),
    "-ltirpc",
  ]);
  assert.equal(built.code, 0, `gcc: ${built.out}`);
  return { client: binary, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** rpcinfo's universal address of 127.0.0.1:port. */
export const uaddr = (port: number): string => `127.0.0.1.${port >> 8}.${port & 255}`;
