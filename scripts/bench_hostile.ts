/**
 * The hostile-client benchmark: a well-behaved client's echo latency (p50, p99) while an attack runs, against the
 * same with no attack, per runtime and mode, with the server's memory (PSS, workers and child processes included) and
 * CPU, in one run. Each measurement has a server of its own, so that an attack's aftermath (connections still queued)
 * does not weigh on the next.
 *
 * `npm run bench:hostile [-- --quick] [--runtimes deno,bun,node] [--modes async,threading,forking]
 * [--attacks lineflood,slowloris,resets,connclose] [--seconds 4]`. The server is `examples/echo.ts` (its limits on:
 * idle timeout, a cap per client address) in each mode; the attackers and the probe are `scripts/bench_hostile.py`
 * (python3), each its own process. Attacks: `lineflood` (8 connections trickling one endless line a byte at a time),
 * `slowloris` (2,000 connections each holding a line that never ends), `resets` (150 connect-then-RST a second),
 * `connclose` (1,000 connect-and-close, forking mode only). The attackers connect from 127.0.0.2–9 and the probe from
 * 127.0.0.1, as distinct clients would. Sync mode is left out unless asked for: it serves one connection at a time
 * (as Python's), so any client holding one shuts the others out until its line deadline, by design.
 * Target: p99 under attack ≤ 3 × p99 at rest, and memory bounded. A full run writes `bench/HOSTILE.md`, a quick or
 * narrowed one `bench/HOSTILE-partial.md`; both print the table.
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { bin, flagValue, nodeExecutable, root, sleep } from "./_bench.ts";

const PYTHON_TOOL = join(root, "scripts", "bench_hostile.py");

const RUNTIMES = ["deno", "bun", "node"];
const MODES = ["sync", "async", "threading", "forking"];
const ATTACKS = ["lineflood", "slowloris", "resets", "connclose"];
/** Attacks that concern one mode only. */
const ATTACK_MODES: Record<string, string[] | undefined> = { connclose: ["forking"] };

interface Options {
  runtimes: string[];
  modes: string[];
  attacks: string[];
  seconds: number;
  partial: boolean;
}

function parseOptions(argv: string[]): Options {
  const value = (flag: string): string | undefined => flagValue(argv, flag);
  const list = (flag: string, fallback: string[], allowed: string[]): string[] => {
    const chosen = (value(flag) ?? fallback.join(",")).split(",");
    const unknown = chosen.filter((item) => !allowed.includes(item));
    if (unknown.length > 0) throw new Error(`${flag}: unknown ${unknown.join(", ")}; use ${allowed.join(", ")}`);
    return chosen;
  };
  const quick = argv.includes("--quick");
  return {
    runtimes: list("--runtimes", RUNTIMES, RUNTIMES),
    modes: list("--modes", quick ? ["async"] : MODES.filter((mode) => mode !== "sync"), MODES),
    attacks: list("--attacks", quick ? ["resets"] : ATTACKS, ATTACKS),
    seconds: Number(value("--seconds") ?? (quick ? 1 : 4)),
    partial: quick || ["--runtimes", "--modes", "--attacks", "--seconds"].some((flag) => argv.includes(flag)),
  };
}

function serverCommand(runtime: string, mode: string): string[] {
  const args = ["--mode", mode, "--port", "0"];
  if (runtime === "deno") {
    return [bin("deno"), "run", "-A", "--unstable-net", join(root, "examples", "echo.ts"), ...args];
  }
  if (runtime === "bun") return [bin("bun"), join(root, "examples", "echo.ts"), ...args];
  return [nodeExecutable(), join(root, "dist", "examples", "echo.js"), ...args];
}

/** The process and its descendants (forking children), from /proc. */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const parent = Number(readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1].split(" ")[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
  return tree;
}

/**
 * Memory of the server and its children, in MiB: the sum of their proportional set sizes (PSS: resident memory, pages
 * shared between them counted once in all), so that forked children sharing a runtime's pages are not counted again.
 */
function treeRss(pid: number): number {
  let kib = 0;
  for (const member of processTree(pid)) {
    try {
      kib += Number(readFileSync(`/proc/${member}/smaps_rollup`, "utf8").match(/Pss:\s+(\d+) kB/)?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return kib / 1024;
}

/** CPU ticks (1/100 s) used so far by the server and its children (live, and reaped ones through the parent). */
function treeTicks(pid: number): number {
  let ticks = 0;
  for (const member of processTree(pid)) {
    try {
      const fields = readFileSync(`/proc/${member}/stat`, "utf8").split(") ")[1].split(" ");
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks;
}

function collect(child: ChildProcess): { output: () => string; errors: () => string } {
  let output = "";
  let errors = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (errors += chunk));
  return { output: () => output, errors: () => errors };
}

async function waitForOutput(child: ChildProcess, seen: () => string, pattern: RegExp, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (pattern.test(seen())) return true;
    if (child.exitCode !== null) return false;
    await sleep(20);
  }
  return false;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  if (await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])) return;
  child.kill("SIGKILL");
  await exited;
}

/** The probe's figures in milliseconds (`null`: no sample). */
interface Probe {
  n: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  newP50: number | null;
  newMax: number | null;
  timeouts: number;
}

interface Row {
  runtime: string;
  mode: string;
  attack: string;
  probe: Probe | null;
  rssRest: number;
  rssPeak: number;
  cpu: number;
  note: string;
}

/** Runs the probe for `seconds` while sampling the server's memory and CPU. */
async function runProbe(
  pid: number,
  port: number,
  seconds: number,
): Promise<{ probe: Probe | null; rssPeak: number; cpu: number; failure?: string }> {
  const child = spawn("python3", [PYTHON_TOOL, "probe", "127.0.0.1", `${port}`, `${seconds}`], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const seen = collect(child);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const startTicks = treeTicks(pid);
  const started = Date.now();
  let rssPeak = treeRss(pid);
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    await sleep(200);
    rssPeak = Math.max(rssPeak, treeRss(pid));
  }
  const cpu = (treeTicks(pid) - startTicks) / 100 / ((Date.now() - started) / 1000);
  const line = seen.output().trim().split("\n").pop() ?? "";
  try {
    return { probe: JSON.parse(line) as Probe, rssPeak, cpu };
  } catch {
    return { probe: null, rssPeak, cpu, failure: seen.errors().trim().split("\n").pop() ?? "no output" };
  }
}

/** One measurement on a server of its own (so that no attack's aftermath weighs on the next): at rest, or attacked. */
async function measureOnce(runtime: string, mode: string, attack: string, options: Options): Promise<Row> {
  const command = serverCommand(runtime, mode);
  const server = spawn(command[0], command.slice(1), { stdio: ["ignore", "pipe", "pipe"], cwd: root });
  const seen = collect(server);
  const row: Row = { runtime, mode, attack, probe: null, rssRest: NaN, rssPeak: NaN, cpu: NaN, note: "" };
  let attacker: ChildProcess | undefined;
  try {
    if (!await waitForOutput(server, seen.output, /listening on \S+:\d+/, 20_000)) {
      return { ...row, note: `server did not start: ${seen.errors().trim().split("\n").pop() ?? ""}` };
    }
    const port = Number(/listening on \S+:(\d+)/.exec(seen.output())![1]);
    const pid = server.pid!;
    await runProbe(pid, port, 1); // warm-up: workers and children started, code compiled
    let ready = true;
    let counts = (): string => "";
    if (attack !== "none") {
      attacker = spawn("python3", [PYTHON_TOOL, "attack", attack, "127.0.0.1", `${port}`, `${options.seconds + 15}`], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      const attackSeen = collect(attacker);
      counts = () => attackSeen.output().trim().split("\n").pop()?.replace(/^ready$/, "") ?? "";
      ready = await waitForOutput(attacker, attackSeen.output, /ready/, 15_000);
    }
    const rssBefore = treeRss(pid);
    const probed = await runProbe(pid, port, options.seconds);
    if (attacker !== undefined) await stop(attacker);
    const alive = server.exitCode === null;
    const note = `${ready ? "" : "attack not ready; "}${alive ? "" : "server died; "}${
      probed.failure === undefined ? "" : `probe: ${probed.failure}; `
    }${counts()}`;
    return { ...row, probe: probed.probe, rssRest: rssBefore, rssPeak: probed.rssPeak, cpu: probed.cpu, note };
  } finally {
    if (attacker !== undefined) await stop(attacker);
    await stop(server);
  }
}

async function measureServer(runtime: string, mode: string, options: Options): Promise<Row[]> {
  const rows = [await measureOnce(runtime, mode, "none", options)];
  for (const attack of options.attacks) {
    if (ATTACK_MODES[attack] !== undefined && !ATTACK_MODES[attack]!.includes(mode)) continue;
    rows.push(await measureOnce(runtime, mode, attack, options));
  }
  return rows;
}

const format = (value: number | null, digits = 1): string =>
  value !== null && Number.isFinite(value) ? value.toFixed(digits) : "–";

function table(rows: Row[]): string {
  const lines = [
    "| runtime | mode | attack | p50 ms | p99 ms | p99 ÷ rest | new conn. p50 / max ms | timeouts | memory MiB (before → peak) | server CPU | notes |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  const restP99 = new Map<string, number>();
  for (const row of rows) {
    const key = `${row.runtime} ${row.mode}`;
    if (row.attack === "none" && row.probe?.p99 != null) restP99.set(key, row.probe.p99);
    const probe = row.probe;
    const ratio = probe?.p99 != null && restP99.has(key) && row.attack !== "none" ? probe.p99 / restP99.get(key)! : NaN;
    const verdict = Number.isFinite(ratio) ? `${format(ratio)}× ${ratio <= 3 ? "✓" : "✗"}` : "–";
    lines.push(
      `| ${row.runtime} | ${row.mode} | ${row.attack} | ${format(probe?.p50 ?? NaN, 2)} | ${
        format(probe?.p99 ?? NaN, 2)
      } | ${verdict} | ${format(probe?.newP50 ?? NaN)} / ${format(probe?.newMax ?? NaN)} | ${
        probe?.timeouts ?? "–"
      } | ${format(row.rssRest, 0)} → ${format(row.rssPeak, 0)} | ${format(row.cpu * 100, 0)}% | ${
        row.note.replaceAll("|", "/")
      } |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  console.log("building: tsc (Node runs dist/)");
  execFileSync(bin("tsc"), ["-p", root], { stdio: "inherit" });
  const started = Date.now();
  const rows: Row[] = [];
  for (const runtime of options.runtimes) {
    for (const mode of options.modes) {
      console.log(`${runtime} ${mode} …`);
      const measured = await measureServer(runtime, mode, options);
      rows.push(...measured);
      console.log(table(measured).split("\n").slice(2).join("\n"));
    }
  }
  const text = [
    `# Hostile-client benchmark${options.partial ? " (partial run)" : ""}`,
    "",
    `\`npm run bench:hostile -- ${process.argv.slice(2).join(" ")}\` — ${new Date().toISOString().slice(0, 16)} UTC, ` +
    `${Math.round((Date.now() - started) / 1000)} s, ${options.seconds} s per probe. p99 ÷ rest: the target is ≤ 3×.`,
    "",
    table(rows),
    "",
  ].join("\n");
  const out = join(root, "bench", options.partial ? "HOSTILE-partial.md" : "HOSTILE.md");
  writeFileSync(out, text);
  console.log(`\n${text}\nwritten to ${out}`);
}

await main();
