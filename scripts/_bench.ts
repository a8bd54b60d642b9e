/**
 * What the benchmarks share: where the repository and its tools are, building a C program, starting and stopping
 * server processes, running a load generator, reading a process's CPU time and memory, and medians and ratios.
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
/** The repository's root, whether this runs from `scripts/` or from tsc's `dist/scripts/`. */
export const root: string = here.includes("/dist/") ? join(here, "..", "..") : join(here, "..");
/** A tool of `node_modules/.bin`. */
export const bin = (name: string): string => join(root, "node_modules", ".bin", name);

/**
 * The Node executable, for the Node contenders. Under Node that is `process.execPath`; under Deno or Bun (a benchmark
 * started with `deno run scripts/bench.ts`) `process.execPath` is that runtime, so `node` is taken from `PATH`: with
 * `process.execPath` the "node" rows would silently measure Deno or Bun running the compiled JavaScript.
 */
export function nodeExecutable(): string {
  const runtime = globalThis as { Deno?: unknown; Bun?: unknown };
  return runtime.Deno === undefined && runtime.Bun === undefined ? process.execPath : "node";
}

/**
 * Builds a C program with the machine's C compiler (`cc -O2`) into a temporary directory: its path.
 *
 * @param sources the C files, relative to the repository's root
 * @param flags more compiler arguments (include paths, libraries)
 */
export function buildC(name: string, sources: string[], flags: string[] = []): string {
  const dir = join(tmpdir(), "sockserve-bench");
  mkdirSync(dir, { recursive: true });
  // Named by its sources: benchmarks of other checkouts on the machine build theirs in the same directory.
  const hash = createHash("sha256");
  for (const source of sources) hash.update(readFileSync(join(root, source)));
  const out = join(dir, `${name}-${hash.digest("hex").slice(0, 12)}`);
  execFileSync("cc", ["-O2", "-o", out, ...sources.map((source) => join(root, source)), ...flags], {
    stdio: "inherit",
  });
  return out;
}

/**
 * The CPU time a process and its running children have used so far (user + system, in clock ticks of 1/100 s), or
 * `null` once it is gone.
 */
export function procStat(pid: number): { cpuTicks: number } | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    // The process and its children (a worker pool's workers, forking children) that are still running.
    let cpuTicks = Number(fields[11]) + Number(fields[12]);
    for (const child of childPids(pid)) cpuTicks += procStat(child)?.cpuTicks ?? 0;
    return { cpuTicks };
  } catch {
    return null;
  }
}

function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number)
    );
  } catch {
    return [];
  }
}

/** How many file descriptors a process holds open (0 once it is gone). */
export function openDescriptors(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** A process's peak (`VmHWM`) or current (`VmRSS`) resident memory in MiB, or NaN. */
export function memory(pid: number, key: "VmHWM" | "VmRSS"): number {
  try {
    const match = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`${key}:\\s+(\\d+) kB`));
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a server process and waits (up to 20 s) for its `listening on ADDRESS` line: the child and that address, or
 * why it did not start.
 */
export async function startServer(command: string[]): Promise<{ child: ChildProcess; address: string } | string> {
  const child = spawn(command[0], command.slice(1), { stdio: ["ignore", "pipe", "pipe"], cwd: root });
  let output = "";
  let errors = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (errors += chunk));
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const match = output.match(/listening on (\S+)/);
    if (match) return { child, address: match[1] };
    if (child.exitCode !== null) return `exited ${child.exitCode}: ${errors.trim().split("\n").pop() ?? ""}`;
    await sleep(20);
  }
  await stopServer(child);
  return "did not start in 20 s";
}

/** Stops a server: SIGTERM, then SIGKILL after 3 s. */
export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  if (await Promise.race([exited.then(() => true), sleep(3000).then(() => false)])) return;
  child.kill("SIGKILL");
  await exited;
}

/**
 * Runs a load generator to its end: its output. `onConnected` hears when it prints `connected` (the idle workloads),
 * with a function that stops it.
 */
export function runLoadgen(
  loadgen: string,
  args: string[],
  onConnected?: (stopLoadgen: () => void) => void,
): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(loadgen, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
      if (onConnected && output.includes("connected")) {
        onConnected(() => child.kill("SIGTERM"));
        onConnected = undefined;
      }
    });
    child.on("exit", () => resolve(output.trim()));
  });
}

/** The median of the finite values, or NaN when there are none. */
export function median(values: number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const middle = finite.length >> 1;
  return finite.length % 2 ? finite[middle] : (finite[middle - 1] + finite[middle]) / 2;
}

/** A number with thousands separators and `digits` decimals; a dash for NaN. */
export const fmt = (value: number, digits = 0): string =>
  Number.isFinite(value)
    ? value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "–";

/** `a ÷ b` as `0.83×`, or a dash when either is not a positive measurement. */
export const ratio = (
  a: number,
  b: number,
): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : "–");

/** The CPU's model name, from /proc/cpuinfo. */
export function cpuModel(): string {
  try {
    return readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

/** How many processors /proc/cpuinfo lists. */
export function navigatorCores(): number {
  try {
    return readFileSync("/proc/cpuinfo", "utf8").split("\n").filter((l) => l.startsWith("processor")).length;
  } catch {
    return NaN;
  }
}

/** The value after `flag` on a command line (`--seconds 2` gives "2"); `undefined` when the flag is absent. */
export function flagValue(argv: readonly string[], flag: string): string | undefined {
  const index = argv.indexOf(flag);
  return index >= 0 ? argv[index + 1] : undefined;
}
