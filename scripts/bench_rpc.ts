/**
 * The RPC benchmark: this library's RPC servers (`examples/rpc_calc.ts`) against the calc.x server that `rpcgen`
 * generates, built against libtirpc (single-threaded `svc_run`), and against a raw server on each runtime's own
 * socket API that answers with pre-encoded replies (`scripts/raw_rpc.ts`: the bound of any server on that runtime),
 * all in one run.
 *
 * `npm run bench:rpc [-- --quick] [--runtimes deno,bun,node] [--modes async,sync,threading,forking]
 * [--workloads tcp-null,tcp-add,udp-null,udp-add] [--seconds 2] [--repeats 3] [--depth 1]` (or
 * `deno run -A scripts/bench_rpc.ts …`, which builds `dist/` for Node first).
 * Workloads: NULL and ADD calls over 16 TCP connections, each keeping `--depth` calls in flight (default 1: a call,
 * its reply, the next call), and over UDP from 16 client sockets, one call in flight each. The load comes from
 * `scripts/loadgen/rpc_loadgen.c` (single-threaded epoll, calls encoded once, each reply's XID, accept_stat and ADD's
 * sum checked); it and the libtirpc server are built with the machine's C compiler (the server needs rpcgen and
 * libtirpc-dev). Every server runs for the whole benchmark (an idle one costs nothing); after a warm-up round, rounds
 * are interleaved (A B C A B C …) and medians reported, with every ratio taken within the run. `--quick` (ADD only, 0.5 s
 * runs, one round and no warm-up, async mode) takes well under a minute and only keeps the benchmark from rotting. A full run writes
 * `bench/RPC-RESULTS.md`, a quick or narrowed one `bench/RPC-RESULTS-partial.md`.
 *
 * @module
 */
import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  bin,
  buildC,
  cpuModel,
  flagValue,
  fmt,
  median,
  navigatorCores,
  nodeExecutable,
  procStat,
  ratio,
  root,
  runLoadgen,
  sleep,
  startServer,
  stopServer,
} from "./_bench.ts";

const MODES = ["async", "sync", "threading", "forking"];
const RUNTIMES = ["deno", "bun", "node"];

interface Workload {
  readonly name: string;
  readonly transport: "tcp" | "udp";
  readonly procedure: "null" | "add";
  readonly what: string;
}

const WORKLOADS: readonly Workload[] = [
  { name: "tcp-null", transport: "tcp", procedure: "null", what: "NULL calls, 16 TCP connections" },
  { name: "tcp-add", transport: "tcp", procedure: "add", what: "ADD calls, 16 TCP connections" },
  { name: "udp-null", transport: "udp", procedure: "null", what: "NULL calls, 16 UDP clients" },
  { name: "udp-add", transport: "udp", procedure: "add", what: "ADD calls, 16 UDP clients" },
];

interface Options {
  quick: boolean;
  partial: boolean;
  runtimes: string[];
  modes: string[];
  workloads: Workload[];
  seconds: number;
  repeats: number;
  depth: number;
}

function parseOptions(argv: string[]): Options {
  const value = (flag: string): string | undefined => flagValue(argv, flag);
  const list = (flag: string, fallback: string, allowed: readonly string[]): string[] => {
    const chosen = (value(flag) ?? fallback).split(",");
    const unknown = chosen.filter((item) => !allowed.includes(item));
    if (unknown.length > 0) throw new Error(`${flag}: unknown ${unknown.join(", ")}; use ${allowed.join(", ")}`);
    return chosen;
  };
  const quick = argv.includes("--quick");
  // Quick: ADD only (it decodes arguments and encodes a result), on both transports.
  const all = quick ? "tcp-add,udp-add" : WORKLOADS.map((w) => w.name).join(",");
  const names = list("--workloads", all, WORKLOADS.map((w) => w.name));
  const depth = Number(value("--depth") ?? 1);
  if (!Number.isInteger(depth) || depth < 1 || depth > 64) throw new Error(`--depth must be 1..64, got ${depth}`);
  return {
    quick,
    partial: quick || ["--runtimes", "--modes", "--workloads", "--depth"].some((flag) => argv.includes(flag)),
    runtimes: list("--runtimes", RUNTIMES.join(","), RUNTIMES),
    modes: list("--modes", "async", MODES),
    workloads: WORKLOADS.filter((w) => names.includes(w.name)),
    seconds: Number(value("--seconds") ?? (quick ? 0.5 : 2)),
    repeats: Number(value("--repeats") ?? (quick ? 1 : 3)),
    depth,
  };
}

/** One server: libtirpc's, a runtime's raw one, or this library in a mode. */
interface Contender {
  readonly name: string;
  readonly runtime: string;
  readonly mode: string;
  readonly command: (transport: "tcp" | "udp") => string[];
}

function contenders(options: Options, libtirpcServer: string): Contender[] {
  const launch: Record<string, (script: string) => string[]> = {
    deno: (script) => [bin("deno"), "run", "-A", "--unstable-net", join(root, script)],
    bun: (script) => [bin("bun"), join(root, script)],
    node: (script) => [nodeExecutable(), join(root, "dist", script.replace(/\.ts$/, ".js"))],
  };
  const list: Contender[] = [
    { name: "libtirpc (rpcgen)", runtime: "c", mode: "libtirpc", command: (t) => [libtirpcServer, t] },
  ];
  for (const runtime of options.runtimes) {
    const start = launch[runtime];
    list.push({ name: `${runtime} raw`, runtime, mode: "raw", command: (t) => [...start("scripts/raw_rpc.ts"), t] });
    for (const mode of options.modes) {
      list.push({
        name: `${runtime} ${mode}`,
        runtime,
        mode,
        // Children reused, as in `npm run bench`: a process start per call (~80 ms on a loaded core) is longer than
        // the load generator's 200 ms UDP retry once 16 clients wait, so no reply would ever count.
        command: (t) => [
          ...start("examples/rpc_calc.ts"),
          ...["--transport", t, "--mode", mode],
          ...(mode === "forking" ? ["--requests-per-child", "Infinity"] : []),
        ],
      });
    }
  }
  return list;
}

/** Builds the rpcgen server of calc.x against libtirpc: rpcgen's header, XDR routines and dispatcher, and our main. */
function buildLibtirpcServer(): string {
  const dir = mkdtempSync(join(tmpdir(), "sockserve-rpcgen-bench-"));
  try {
    // rpcgen names the header in the C files as it was given the .x file: run it in the build directory.
    copyFileSync(join(root, "examples", "calc.x"), join(dir, "calc.x"));
    for (const [flag, out] of [["-h", "calc.h"], ["-c", "calc_xdr.c"], ["-m", "calc_svc.c"]]) {
      execFileSync("rpcgen", [flag, "calc.x", "-o", out], { cwd: dir, stdio: "inherit" });
    }
    return buildC("rpcgen_calc_server", ["scripts/loadgen/rpcgen_calc_server.c"], [
      join(dir, "calc_svc.c"),
      join(dir, "calc_xdr.c"),
      "-I/usr/include/tirpc",
      `-I${dir}`,
      "-ltirpc",
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Sample {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpu: number;
  readonly note?: string;
}

async function measure(
  loadgen: string,
  server: { child: ChildProcess; address: string },
  workload: Workload,
  seconds: number,
  depth: number,
): Promise<Sample> {
  const port = server.address.slice(server.address.lastIndexOf(":") + 1);
  const pid = server.child.pid!;
  const before = procStat(pid);
  const startedAt = Date.now();
  const args = [workload.transport, "127.0.0.1", port, "16", `${seconds}`, workload.procedure];
  const output = await runLoadgen(loadgen, workload.transport === "tcp" ? [...args, `${depth}`] : args);
  const after = procStat(pid);
  const elapsed = (Date.now() - startedAt) / 1000;
  const cpu = before && after ? (after.cpuTicks - before.cpuTicks) / 100 / elapsed : NaN;
  let result: { opsPerSecond?: number; p50ms?: number; p99ms?: number; bad?: number; errors?: number } = {};
  try {
    result = JSON.parse(output.split("\n").pop() || "{}");
  } catch {
    return { rate: NaN, p50: NaN, p99: NaN, cpu, note: `load generator: ${output.slice(0, 200)}` };
  }
  // A wrong reply is a broken server, not a slow one: the sample does not count.
  if ((result.bad ?? 0) > 0) return { rate: NaN, p50: NaN, p99: NaN, cpu, note: `${result.bad} wrong replies` };
  const rate = result.opsPerSecond ?? NaN;
  return {
    rate: rate > 0 ? rate : NaN,
    p50: result.p50ms ?? NaN,
    p99: result.p99ms ?? NaN,
    cpu,
    note: rate > 0 ? undefined : `no reply (${result.errors ?? "?"} errors)`,
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  // `npm run bench:rpc` runs this from dist/, built just before; under Deno or Bun it builds dist/ for Node here.
  if (!import.meta.url.includes("/dist/")) {
    console.log("building: tsc (Node runs dist/)");
    execFileSync(bin("tsc"), ["-p", root], { stdio: "inherit" });
  }
  console.log("building: the load generator and the rpcgen server");
  const loadgen = buildC("rpc_loadgen", ["scripts/loadgen/rpc_loadgen.c"]);
  const all = contenders(options, buildLibtirpcServer());
  const transports = [...new Set(options.workloads.map((w) => w.transport))];
  const servers = new Map<string, { child: ChildProcess; address: string }>();
  const key = (contender: Contender, transport: string) => `${contender.name}|${transport}`;
  const samples = new Map<string, Sample[]>();
  const failures = new Map<string, string>();
  try {
    // Started all at once (nothing is measured yet), and all run to the end: an idle server costs nothing.
    await Promise.all(all.flatMap((contender) =>
      transports.map(async (transport) => {
        const started = await startServer(contender.command(transport));
        if (typeof started === "string") failures.set(key(contender, transport), started);
        else servers.set(key(contender, transport), started);
      })
    ));
    await sleep(500);
    // One warm-up round (JIT, spare workers and children), not counted, then the measured rounds.
    for (let round = options.quick ? 1 : 0; round <= options.repeats; round++) {
      const warmUp = round === 0;
      for (const workload of options.workloads) {
        for (const contender of all) {
          const server = servers.get(key(contender, workload.transport));
          if (server === undefined) continue;
          const seconds = warmUp ? Math.min(0.5, options.seconds) : options.seconds;
          const sample = await measure(loadgen, server, workload, seconds, options.depth);
          if (warmUp) continue;
          const list = samples.get(`${contender.name}|${workload.name}`) ?? [];
          list.push(sample);
          samples.set(`${contender.name}|${workload.name}`, list);
          const shown = sample.note === undefined ? `${fmt(sample.rate)} calls/s` : `failed: ${sample.note}`;
          console.log(
            `  ${workload.name.padEnd(8)} #${round} ${contender.name.padEnd(18)} ${shown}  cpu ${
              fmt(sample.cpu * 100)
            }%`,
          );
        }
      }
    }
  } finally {
    await Promise.all([...servers.values()].map(({ child }) => stopServer(child)));
  }

  const med = (contender: Contender | undefined, workload: Workload) => {
    const list = contender === undefined ? [] : samples.get(`${contender.name}|${workload.name}`) ?? [];
    const ok = list.filter((s) => s.note === undefined);
    return {
      rate: median(ok.map((s) => s.rate)),
      p50: median(ok.map((s) => s.p50)),
      p99: median(ok.map((s) => s.p99)),
      cpu: median(ok.map((s) => s.cpu)),
      note: contender === undefined
        ? undefined
        : failures.get(key(contender, workload.transport)) ?? list.find((s) => s.note !== undefined)?.note,
    };
  };
  // Calls per second of the server's own CPU time (all its threads, and its running children: forking, pool).
  const perCpu = (m: { rate: number; cpu: number }): number => m.cpu > 0 ? m.rate / m.cpu : NaN;
  const libtirpc = all[0];
  const lines: string[] = [];
  lines.push("# RPC benchmark results", "");
  lines.push(`Machine: ${cpuModel()}, ${navigatorCores()} cores; ${new Date().toISOString().slice(0, 10)}.`);
  lines.push(
    `Command: \`npm run bench:rpc -- ${process.argv.slice(2).join(" ")}\` — ${options.seconds} s per run, ` +
      `${options.repeats} interleaved rounds after a warm-up, medians; TCP: ${options.depth} call(s) in flight per ` +
      "connection.",
  );
  lines.push(
    "",
    "Program 0x20000099 of `examples/calc.x`. libtirpc (rpcgen) is the server rpcgen generates, built with gcc against",
    "libtirpc, one thread in `svc_run`; raw is `scripts/raw_rpc.ts`, the runtime's socket API answering each call with",
    "a pre-encoded reply (no library, no decoding beyond the XID and ADD's two integers): the bound of any server on",
    'that runtime. Every reply is checked by the load generator (XID, accept_stat, ADD\'s sum). "per CPU-s" divides',
    "calls per second by the server's CPU time (all its threads): the cost of a call, less sensitive than the rate to",
    "how much of a shared machine a server got. Compare ratios, never absolute numbers across runs.",
    "",
  );
  for (const runtime of options.runtimes) {
    lines.push(`## ${runtime}`, "");
    const modes = options.modes;
    lines.push(
      `| workload | libtirpc calls/s | raw calls/s | ${modes.map((m) => `${m} calls/s`).join(" | ")} | ${
        modes.map((m) => `${m} ÷ libtirpc`).join(" | ")
      } | ${modes.map((m) => `${m} ÷ raw`).join(" | ")} | raw ÷ libtirpc | ${
        modes.map((m) => `${m} ÷ libtirpc per CPU-s`).join(" | ")
      } |`,
    );
    lines.push(`|---|${"---:|".repeat(3 + 4 * modes.length)}`);
    const raw = all.find((c) => c.runtime === runtime && c.mode === "raw");
    for (const workload of options.workloads) {
      const base = med(libtirpc, workload).rate;
      const rawRate = med(raw, workload).rate;
      const ours = modes.map((mode) => med(all.find((c) => c.runtime === runtime && c.mode === mode), workload));
      const rates = ours.map((m) => m.rate);
      const baseEfficiency = perCpu(med(libtirpc, workload));
      lines.push(
        `| ${workload.name} | ${fmt(base)} | ${fmt(rawRate)} | ${rates.map((r) => fmt(r)).join(" | ")} | ${
          rates.map((r) => ratio(r, base)).join(" | ")
        } | ${rates.map((r) => ratio(r, rawRate)).join(" | ")} | ${ratio(rawRate, base)} | ${
          ours.map((m) => ratio(perCpu(m), baseEfficiency)).join(" | ")
        } |`,
      );
    }
    lines.push("");
  }
  for (const workload of options.workloads) {
    lines.push(`## ${workload.name}: ${workload.what}`, "");
    lines.push("| server | calls/s | p50 ms | p99 ms | server CPU | calls per CPU-s | ÷ libtirpc |");
    lines.push("|---|---:|---:|---:|---:|---:|---:|");
    const base = med(libtirpc, workload).rate;
    for (const contender of all) {
      const m = med(contender, workload);
      const rate = Number.isFinite(m.rate) ? fmt(m.rate) : `failed: ${m.note ?? "?"}`;
      lines.push(
        `| ${contender.name} | ${rate} | ${fmt(m.p50, 3)} | ${fmt(m.p99, 3)} | ${fmt(m.cpu * 100)}% | ${
          fmt(perCpu(m))
        } | ${contender === libtirpc ? "" : ratio(m.rate, base)} |`,
      );
    }
    lines.push("");
  }
  const report = lines.join("\n");
  console.log(`\n${report}`);
  mkdirSync(join(root, "bench"), { recursive: true });
  writeFileSync(join(root, "bench", options.partial ? "RPC-RESULTS-partial.md" : "RPC-RESULTS.md"), report + "\n");
}

if (!existsSync(join(root, "scripts", "loadgen", "rpc_loadgen.c"))) {
  throw new Error(`cannot find the repository root: ${root}`);
}
await main();
