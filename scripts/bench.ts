/**
 * The benchmark: this library in every mode, each runtime's raw socket API, and CPython's socketserver, under the same
 * workloads, side by side in one run.
 *
 * `npm run bench [-- --quick] [--runtimes deno,bun,node] [--modes sync,async,threading,forking]
 * [--workloads tcp16,connect] [--seconds 2] [--repeats 3] [--warmup 0]` (or `deno task bench`). Each server runs as its own
 * process; the load comes from `scripts/loadgen/loadgen.c`, a single-threaded epoll client built with the machine's C
 * compiler (the TLS workloads' from `scripts/loadgen/tls_loadgen.c`, an OpenSSL client: it needs `libssl-dev`, and
 * those workloads are left out, said so, where it cannot be built). Runs are interleaved (A B C A B C …) and medians reported, since a shared 2-core machine is noisy.
 * `--quick` (persistent TCP echo, one half-second run each) only keeps the benchmark from rotting: it takes under a
 * minute, and its figures are too short to quote. A full run writes `bench/RESULTS.md`; a quick or narrowed one
 * writes `bench/RESULTS-partial.md`, so that the committed full table is never overwritten by a part of it. Both print
 * the same table. `--warmup S` runs the load for S seconds against each fresh server before the measured run (the
 * same for every contender), so that the measured seconds see optimized code: without it, a 2 s run of a fresh process
 * includes the JIT's warm-up, which weighs more on a server with more code to optimize (this library's, against the raw
 * servers'); most on connect per request over TLS.
 *
 * The worker pool: `--modes async,pool1,pool2 --workloads spin,tcp16,connect,proxyconnect` measures `WorkerPool`s of
 * 1 and 2 workers (server CPU counts the workers) and ends with the ratios: 2 workers ÷ 1, and PROXY protocol on ÷ off
 * on connect-per-request (`proxyconnect`, whose client sends a PROXY v1 header first, against `connect`).
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
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
  memory,
  navigatorCores,
  nodeExecutable,
  openDescriptors,
  procStat,
  ratio,
  root,
  runLoadgen,
  sleep,
  startServer,
  stopServer,
} from "./_bench.ts";

interface Options {
  quick: boolean;
  runtimes: string[];
  /** Modes of this library to run; each runtime's raw server and the matching CPython classes come along. */
  modes: string[];
  workloads: string[];
  /** True when some of the matrix was left out. */
  partial: boolean;
  seconds: number;
  repeats: number;
  /** Seconds of load before each measured run, on the same server process (0: none). */
  warmup: number;
}

function parseOptions(argv: string[]): Options {
  const value = (flag: string): string | undefined => flagValue(argv, flag);
  const quick = argv.includes("--quick");
  const modes = (value("--modes") ?? MODES.join(",")).split(",");
  const known = [...MODES, ...POOL_MODES];
  const unknown = modes.filter((mode) => !known.includes(mode));
  if (unknown.length > 0) throw new Error(`unknown mode ${unknown.join(", ")}: use ${known.join(", ")}`);
  return {
    quick,
    partial: quick || ["--runtimes", "--modes", "--workloads"].some((flag) => argv.includes(flag)),
    runtimes: (value("--runtimes") ?? "deno,bun,node").split(","),
    modes,
    workloads: (value("--workloads") ?? (quick ? "tcp16" : WORKLOADS.map((w) => w.name).join(","))).split(","),
    seconds: Number(value("--seconds") ?? (quick ? 0.5 : 2)),
    repeats: Number(value("--repeats") ?? (quick ? 1 : 3)),
    warmup: Number(value("--warmup") ?? 0),
  };
}

/** Workloads where a raw server that serves one connection at a time (the bound of sync mode) is measured too. */
const SERIAL_WORKLOADS = ["tcp16", "tcp256", "connect", "unix", "ptcp16", "ptcp256", "punix", "plines"];

/** Workloads where a raw server that awaits each read and each write (the bound of the async API) is measured too. */
const AWAITS_WORKLOADS = ["tcp16", "unix", "udp", "tls16", "tlsconnect"];

/** Workloads served over TLS: their load comes from the OpenSSL load generator. */
const TLS_WORKLOADS = ["tls16", "tlsconnect"];

/** The modes of this library, as the server classes' prefixes name them. */
const MODES = ["sync", "async", "threading", "forking"];

/** `WorkerPool`s of 1 and 2 workers: measured only when named in `--modes`, on {@link POOL_WORKLOADS}. */
const POOL_MODES = ["pool1", "pool2"];
const POOL_WORKLOADS = ["tcp16", "tcp256", "connect", "spin", "proxyconnect"];

/** A load: what the load generator does, and which server handler and transport it needs. */
interface Workload {
  name: string;
  what: string;
  /** `tls`: TCP with the `tls` option (this library), `node:tls` (raw), `ssl` (CPython), the test certificate. */
  transport: "tcp" | "udp" | "unix" | "tls";
  /** The server's handler: `protocol` and `lines` are the callback shape (`StreamProtocol`, `LineReceiver`). */
  handler: "echo" | "cpu" | "spin" | "proxy" | "protocol" | "lines";
  loadgen: (address: string, seconds: number) => string[];
  unit: "ops/s" | "MB/s" | "MiB";
  /** `MiB`: the idle connections the server holds when its memory is read. */
  connections?: number;
}

const WORKLOADS: Workload[] = [
  {
    name: "tcp16",
    what: "persistent TCP echo, 64-byte lines, 16 connections",
    transport: "tcp",
    handler: "echo",
    unit: "ops/s",
    loadgen: (a, s) => ["tcp", ...hostPort(a), "16", `${s}`],
  },
  {
    name: "tcp256",
    what: "persistent TCP echo, 64-byte lines, 256 connections",
    transport: "tcp",
    handler: "echo",
    unit: "ops/s",
    loadgen: (a, s) => ["tcp", ...hostPort(a), "256", `${s}`],
  },
  {
    name: "connect",
    what: "connect, one line, close (16 at a time)",
    transport: "tcp",
    handler: "echo",
    unit: "ops/s",
    loadgen: (a, s) => ["connect", ...hostPort(a), "16", `${s}`],
  },
  {
    name: "udp",
    what: "UDP echo, 64-byte datagrams, 16 clients",
    transport: "udp",
    handler: "echo",
    unit: "ops/s",
    loadgen: (a, s) => ["udp", ...hostPort(a), "16", `${s}`],
  },
  {
    name: "unix",
    what: "unix stream echo, 64-byte lines, 16 connections",
    transport: "unix",
    handler: "echo",
    unit: "ops/s",
    loadgen: (a, s) => ["unix", a, "16", `${s}`],
  },
  {
    name: "bulk",
    what: "one connection, 64 KiB lines",
    transport: "tcp",
    handler: "echo",
    unit: "MB/s",
    loadgen: (a, s) => ["tcp", ...hostPort(a), "1", `${s}`, "65536"],
  },
  {
    name: "cpu",
    what: "hash 1 MiB per line, 4 connections",
    transport: "tcp",
    handler: "cpu",
    unit: "ops/s",
    loadgen: (a, s) => ["tcp", ...hostPort(a), "4", `${s}`],
  },
  {
    name: "spin",
    what: "persistent TCP echo, 64 connections, 50 µs of CPU per line in the handler",
    transport: "tcp",
    handler: "spin",
    unit: "ops/s",
    loadgen: (a, s) => ["tcp", ...hostPort(a), "64", `${s}`],
  },
  {
    name: "proxyconnect",
    what: "connect, PROXY v1 header and one line in one write, close (16 at a time)",
    transport: "tcp",
    handler: "proxy",
    unit: "ops/s",
    loadgen: (a, s) => ["connectproxy", ...hostPort(a), "16", `${s}`],
  },
  {
    name: "idle10k",
    what: "server memory holding 10,000 idle connections",
    transport: "tcp",
    handler: "echo",
    unit: "MiB",
    connections: 10_000,
    // Held until measured (see measure()): the kernel completes connections before the server accepts them.
    loadgen: (a) => ["idle", ...hostPort(a), "10000", "60"],
  },
  // The same loads on protocol handlers (the callback shape), against the same raw servers.
  ...protocolWorkloads(),
  {
    name: "tls16",
    what: "TLS 1.3 persistent echo, 64-byte lines, 16 connections",
    transport: "tls",
    handler: "echo",
    unit: "ops/s",
    loadgen: (a, s) => ["echo", ...hostPort(a), "16", `${s}`],
  },
  {
    name: "tlsconnect",
    what: "TLS connect per request: a full TLS 1.3 handshake (no resumption), one line, close (16 at a time)",
    transport: "tls",
    handler: "echo",
    unit: "ops/s",
    loadgen: (a, s) => ["connect", ...hostPort(a), "16", `${s}`],
  },
];

/** The protocol-handler workloads: `p` + the name of the stream-handler workload they repeat. */
function protocolWorkloads(): Workload[] {
  const tcp = (connections: string) => (a: string, s: number) => ["tcp", ...hostPort(a), connections, `${s}`];
  return [
    {
      name: "ptcp16",
      what: "protocol handler: persistent TCP echo, 64-byte lines, 16 connections",
      transport: "tcp",
      handler: "protocol",
      unit: "ops/s",
      loadgen: tcp("16"),
    },
    {
      name: "ptcp256",
      what: "protocol handler: persistent TCP echo, 64-byte lines, 256 connections",
      transport: "tcp",
      handler: "protocol",
      unit: "ops/s",
      loadgen: tcp("256"),
    },
    {
      name: "punix",
      what: "protocol handler: unix stream echo, 64-byte lines, 16 connections",
      transport: "unix",
      handler: "protocol",
      unit: "ops/s",
      loadgen: (a, s) => ["unix", a, "16", `${s}`],
    },
    {
      name: "pudp",
      what: "protocol handler: UDP echo, 64-byte datagrams, 16 clients (one DatagramProtocol)",
      transport: "udp",
      handler: "protocol",
      unit: "ops/s",
      loadgen: (a, s) => ["udp", ...hostPort(a), "16", `${s}`],
    },
    {
      name: "plines",
      what: "LineReceiver: persistent TCP line echo, 64-byte lines, 16 connections",
      transport: "tcp",
      handler: "lines",
      unit: "ops/s",
      loadgen: tcp("16"),
    },
    {
      name: "pidle10k",
      what: "protocol handler: server memory holding 10,000 idle connections",
      transport: "tcp",
      handler: "protocol",
      unit: "MiB",
      connections: 10_000,
      loadgen: (a) => ["idle", ...hostPort(a), "10000", "60"],
    },
    {
      // What pidle10k's servers hold before the first connection (the code they loaded): the rest is per connection.
      name: "pidle0",
      what: "protocol handler: server memory with no connection yet (the code loaded)",
      transport: "tcp",
      handler: "protocol",
      unit: "MiB",
      connections: 0,
      loadgen: (a) => ["idle", ...hostPort(a), "0", "60"],
    },
  ];
}

function hostPort(address: string): [string, string] {
  const colon = address.lastIndexOf(":");
  return [address.slice(0, colon), address.slice(colon + 1)];
}

/** One server to measure: this library in a mode, a runtime's raw API, or CPython. */
interface Contender {
  name: string;
  runtime: string;
  mode: string;
  command: (workload: Workload, address: string) => string[];
}

function contenders(options: Options): Contender[] {
  const list: Contender[] = [];
  const launch: Record<string, (script: string) => string[]> = {
    deno: (script) => [bin("deno"), "run", "-A", "--unstable-net", join(root, "scripts", `${script}.ts`)],
    bun: (script) => [bin("bun"), join(root, "scripts", `${script}.ts`)],
    node: (script) => [nodeExecutable(), join(root, "dist", "scripts", `${script}.js`)],
  };
  for (const runtime of options.runtimes) {
    const start = launch[runtime];
    if (start === undefined) throw new Error(`unknown runtime ${runtime}`);
    // Over TLS the raw server is `node:tls` on every runtime (the engine this library uses), beside the runtime's own.
    const raw = (w: Workload, a: string, style: string) =>
      w.transport === "tls" ? [...start("raw_tls_echo"), a, style] : [...start("raw_echo"), w.transport, a, style];
    list.push({
      name: `${runtime} raw`,
      runtime,
      mode: "raw",
      command: (w, a) => raw(w, a, w.handler === "proxy" ? "proxy" : "callback"),
    });
    if (options.modes.includes("async")) {
      list.push({ name: `${runtime} raw awaits`, runtime, mode: "raw-awaits", command: (w, a) => raw(w, a, "awaits") });
      if (runtime === "deno") {
        list.push({ name: "deno raw owned", runtime, mode: "raw-owned", command: (w, a) => raw(w, a, "owned") });
        // Deno's node:tls needs an SNICallback to close failed handshakes (see runtimes/_node_tls.ts): the bound there.
        list.push({ name: "deno raw sni", runtime, mode: "raw-sni", command: (w, a) => raw(w, a, "sni") });
      }
    }
    if (runtime !== "node") {
      list.push({
        name: `${runtime} native TLS`,
        runtime,
        mode: "raw-native",
        command: (w, a) => raw(w, a, "native"),
      });
    }
    if (options.modes.includes("sync")) {
      list.push({
        name: `${runtime} raw serial`,
        runtime,
        mode: "raw-serial",
        command: (w, a) => [...start("raw_echo"), w.transport, a, "serial"],
      });
    }
    for (const mode of options.modes) {
      list.push({
        name: `${runtime} ${mode}`,
        runtime,
        mode,
        command: (w, a) => [...start("bench_server"), mode, w.transport, w.handler, a],
      });
    }
  }
  const pythonModes = new Set(options.modes.map((mode) => PYTHON_EQUIVALENT[mode]));
  for (const mode of ["sync", "threading", "forking"].filter((mode) => pythonModes.has(mode))) {
    list.push({
      name: `cpython ${mode}`,
      runtime: "cpython",
      mode,
      command: (w, a) => ["python3", join(root, "scripts", "bench_python.py"), mode, w.transport, w.handler, a],
    });
  }
  return list;
}

/** Which contenders a workload makes sense for. */
function applies(contender: Contender, workload: Workload): boolean {
  // One connection at a time differs from raw only where several connections compete.
  if (contender.mode === "raw-serial") return SERIAL_WORKLOADS.includes(workload.name);
  // Deno's raw server already awaits each read and write, except over node:tls: elsewhere "awaits" would be the same.
  if (contender.mode === "raw-awaits") {
    return AWAITS_WORKLOADS.includes(workload.name) && (contender.runtime !== "deno" || workload.transport === "tls");
  }
  if (contender.mode === "raw-native" || contender.mode === "raw-sni") return workload.transport === "tls";
  // Deno's raw loop in the adapter's shape: the bound of the protocol handlers on streams.
  if (contender.mode === "raw-owned") {
    return (workload.handler === "protocol" || workload.handler === "lines") &&
      (workload.transport === "tcp" || workload.transport === "unix") && workload.unit === "ops/s";
  }
  // One connection at a time on 16 persistent connections measures only the wait for a turn.
  if (workload.transport === "tls" && contender.mode === "sync") return workload.name !== "tls16";
  if (POOL_MODES.includes(contender.mode)) return POOL_WORKLOADS.includes(workload.name);
  // The PROXY protocol is this library's: compared with the same mode on the plain connect workload.
  // The raw server reads and checks the header (style `proxy`): the bound.
  if (workload.handler === "proxy") return contender.mode === "async" || contender.mode === "raw";
  // CPython's socketserver has no protocol handlers: its classes are compared on the stream-handler workloads.
  if (contender.runtime === "cpython" && (workload.handler === "protocol" || workload.handler === "lines")) {
    return false;
  }
  if (workload.unit === "MiB") return contender.mode === "async" || contender.mode === "raw";
  if (workload.handler === "cpu") return contender.mode !== "raw";
  if (workload.handler === "spin") return contender.mode === "async";
  // One datagram protocol object in the server's thread: the same server in every mode, so measured once.
  if (workload.name === "pudp") return contender.mode === "raw" || contender.mode === "async";
  return true;
}

interface Sample {
  value: number;
  p50: number;
  p99: number;
  cpu: number;
  peakMiB: number;
  ok: boolean;
  note?: string;
}

async function measure(
  loadgens: Loadgens,
  contender: Contender,
  workload: Workload,
  seconds: number,
  warmup: number,
): Promise<Sample> {
  const failed = (note: string): Sample => ({
    value: NaN,
    p50: NaN,
    p99: NaN,
    cpu: NaN,
    peakMiB: NaN,
    ok: false,
    note,
  });
  const address = workload.transport === "unix" ? join(tmpdir(), `sockserve-bench-${process.pid}.sock`) : "0";
  if (workload.transport === "unix") rmSync(address, { force: true });
  const loadgen = workload.transport === "tls" ? loadgens.tls! : loadgens.plain;
  const started = await startServer(contender.command(workload, address));
  if (typeof started === "string") return failed(started);
  const { child } = started;
  const pid = child.pid!;
  try {
    await sleep(200);
    if (contender.mode === "forking" && workload.unit !== "MiB") {
      // A forking server starts children as requests take its spares: one warm-up run, then time for the new spares
      // to start, so that the measured run sees serving, not process start-up (scripts/bench_forking.ts measures it).
      await runLoadgen(loadgen, workload.loadgen(started.address, 1));
      await sleep(3000);
    }
    if (warmup > 0 && workload.unit !== "MiB") await runLoadgen(loadgen, workload.loadgen(started.address, warmup));
    const before = procStat(pid);
    const startedAt = Date.now();
    let idleRss = NaN;
    const connections = workload.connections ?? 0;
    const output = await runLoadgen(loadgen, workload.loadgen(started.address, seconds), (stopLoadgen) => {
      // Memory is read once the server holds every connection (its open descriptors say so; Deno accepts only about
      // 1,000 a second) and 2 s more have passed, so that the accept burst's garbage does not count.
      void (async () => {
        const deadline = Date.now() + 40_000;
        while (openDescriptors(pid) < connections && Date.now() < deadline) await sleep(250);
        await sleep(2000);
        idleRss = memory(pid, "VmRSS");
        stopLoadgen();
      })();
    });
    const after = procStat(pid);
    const elapsed = (Date.now() - startedAt) / 1000;
    const cpu = before && after ? (after.cpuTicks - before.cpuTicks) / 100 / elapsed : NaN;
    const peakMiB = memory(pid, "VmHWM");
    const result = JSON.parse(output.split("\n").pop() || "{}");
    if (workload.unit === "MiB") {
      return {
        value: idleRss,
        p50: NaN,
        p99: NaN,
        cpu,
        peakMiB,
        ok: result.connected === connections,
        note: `${result.connected} connected`,
      };
    }
    const value = workload.unit === "MB/s" ? result.mbPerSecond : result.opsPerSecond;
    return { value, p50: result.p50ms, p99: result.p99ms, cpu, peakMiB, ok: Number.isFinite(value) && value > 0 };
  } finally {
    await stopServer(child);
    if (workload.transport === "unix") rmSync(address, { force: true });
  }
}

/**
 * Workloads whose figures are divided by each other (PROXY on ÷ off; memory with and without connections): measured
 * in turns, round by round, so that a drift of the machine over the run weighs on both sides of the ratio alike.
 */
const MEASURED_IN_TURNS = [["connect", "proxyconnect"], ["pidle0", "pidle10k"]];

/** The workloads in the order they run: one group at a time, the workloads of a group in turns. */
function interleavedGroups(workloads: Workload[]): Workload[][] {
  const groups: Workload[][] = [];
  const placed = new Set<Workload>();
  for (const workload of workloads) {
    if (placed.has(workload)) continue;
    const partners = MEASURED_IN_TURNS.find((names) => names.includes(workload.name)) ?? [workload.name];
    const group = workloads.filter((w) => partners.includes(w.name));
    for (const member of group) placed.add(member);
    groups.push(group);
  }
  return groups;
}

/** The CPython class each mode is compared with. */
const PYTHON_EQUIVALENT: Record<string, string> = {
  sync: "sync",
  async: "threading",
  threading: "threading",
  forking: "forking",
};

/** Builds the OpenSSL load generator; `null` (said so) where it cannot be built, as without `libssl-dev`. */
function buildTlsLoadgen(): string | null {
  try {
    return buildC("tls_loadgen", ["scripts/loadgen/tls_loadgen.c"], ["-lssl", "-lcrypto", "-lpthread"]);
  } catch {
    console.log("cannot build scripts/loadgen/tls_loadgen.c (its error is above)");
    return null;
  }
}

/** The built load generators: the plain one, and the OpenSSL one when it could be built. */
interface Loadgens {
  plain: string;
  tls: string | null;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  let workloads = WORKLOADS.filter((w) => options.workloads.includes(w.name));
  console.log("building: tsc (Node runs dist/) and the load generators");
  execFileSync(bin("tsc"), ["-p", root], { stdio: "inherit" });
  const plain = buildC("loadgen", ["scripts/loadgen/loadgen.c"]);
  const loadgens: Loadgens = {
    plain,
    tls: workloads.some((w) => w.transport === "tls") ? buildTlsLoadgen() : null,
  };
  if (loadgens.tls === null && workloads.some((w) => w.transport === "tls")) {
    console.log(`leaving out ${TLS_WORKLOADS.join(", ")}: install libssl-dev to run them`);
    workloads = workloads.filter((w) => w.transport !== "tls");
  }
  const all = contenders(options);
  const samples = new Map<string, Sample[]>();
  const key = (c: Contender, w: Workload) => `${c.name}|${w.name}`;
  for (const group of interleavedGroups(workloads)) {
    for (let repeat = 0; repeat < options.repeats; repeat++) {
      for (const workload of group) {
        for (const contender of all.filter((c) => applies(c, workload))) {
          const sample = await measure(loadgens, contender, workload, options.seconds, options.warmup);
          const list = samples.get(key(contender, workload)) ?? [];
          list.push(sample);
          samples.set(key(contender, workload), list);
          const shown = sample.ok
            ? `${fmt(sample.value, workload.unit === "MB/s" ? 1 : 0)} ${workload.unit}`
            : `failed: ${sample.note}`;
          console.log(
            `  ${workload.name.padEnd(8)} #${repeat + 1} ${contender.name.padEnd(16)} ${shown}  cpu ${
              fmt(sample.cpu * 100)
            }%`,
          );
        }
      }
    }
  }

  const lines: string[] = [];
  lines.push("# Benchmark results", "");
  lines.push(`Machine: ${cpuModel()}, ${navigatorCores()} cores; ${new Date().toISOString().slice(0, 10)}.`);
  lines.push(
    `Command: \`npm run bench -- ${process.argv.slice(2).join(" ")}\` — ${options.seconds} s per run${
      options.warmup > 0 ? ` after ${options.warmup} s of warm-up load on the same server` : ""
    }, ${options.repeats} interleaved runs, medians.`,
  );
  lines.push(
    'Ratios are measured in this one run; compare ratios, never absolute numbers across runs. "vs raw" compares with',
    "the same runtime's raw server, and sync mode (one connection at a time) with the raw server that also serves one",
    'connection at a time (raw serial), where several connections compete. "raw awaits" is the raw server in the shape',
    "of a handler that awaits each read and each write, and nothing else (Bun and Node; Deno's raw server has that shape",
    "already). \"deno raw owned\" is Deno's raw loop in the shape of the library's adapter (each read copied out as the",
    'consumer\'s own, the write not awaited): the bound of protocol handlers there. "vs CPython" compares with the',
    "matching `socketserver` class (async with ThreadingTCPServer). Over TLS",
    '"raw" is a `node:tls` server on the same runtime (the engine this library uses), "native TLS" the runtime\'s own',
    'listener (`Deno.listenTls`, `Bun.listen({ tls })`), "deno raw sni" the raw server with an `SNICallback` (which',
    "Deno's `node:tls` needs to close failed handshakes: the bound of this library's TLS there), CPython the same",
    "classes with `ssl`.",
    "",
  );
  for (const workload of workloads) {
    lines.push(`## ${workload.name}: ${workload.what}`, "");
    lines.push(`| server | ${workload.unit} | p50 ms | p99 ms | server CPU | peak MiB | vs raw | vs CPython |`);
    lines.push("|---|---:|---:|---:|---:|---:|---:|---:|");
    const med = (c: Contender) => {
      const list = samples.get(key(c, workload)) ?? [];
      const ok = list.filter((s) => s.ok);
      return {
        value: median(ok.map((s) => s.value)),
        p50: median(ok.map((s) => s.p50)),
        p99: median(ok.map((s) => s.p99)),
        cpu: median(ok.map((s) => s.cpu)),
        peak: median(ok.map((s) => s.peakMiB)),
        note: list.find((s) => !s.ok)?.note,
        ran: list.length > 0,
      };
    };
    for (const contender of all) {
      const m = med(contender);
      if (!m.ran) continue;
      // Sync mode serves one connection at a time: its raw counterpart does the same, where it was measured.
      const rawMode = contender.mode === "sync" && SERIAL_WORKLOADS.includes(workload.name) ? "raw-serial" : "raw";
      const raw = all.find((c) => c.runtime === contender.runtime && c.mode === rawMode);
      const python = all.find((c) => c.runtime === "cpython" && c.mode === PYTHON_EQUIVALENT[contender.mode]);
      const vsRaw =
        contender.mode === "raw" || contender.mode === "raw-serial" || contender.runtime === "cpython" || !raw
          ? ""
          : ratio(m.value, med(raw).value);
      const vsPython = contender.runtime === "cpython" || !python ? "" : ratio(m.value, med(python).value);
      const value = Number.isFinite(m.value)
        ? fmt(m.value, workload.unit === "ops/s" ? 0 : 1)
        : `failed: ${m.note ?? "?"}`;
      const [better, lower] = workload.unit === "MiB" ? [vsRaw, ""] : [vsRaw, vsPython];
      lines.push(
        `| ${contender.name} | ${value} | ${fmt(m.p50, 3)} | ${fmt(m.p99, 3)} | ${fmt(m.cpu * 100)}% | ${
          fmt(m.peak, 1)
        } | ${better} | ${lower} |`,
      );
    }
    lines.push("");
  }
  lines.push(
    ...ratioLines(all, workloads, (c, w) =>
      median(
        (samples.get(key(c, w)) ?? []).filter((s) => s.ok).map((s) => s.value),
      )),
  );
  const report = lines.join("\n");
  console.log(`\n${report}`);
  mkdirSync(join(root, "bench"), { recursive: true });
  writeFileSync(join(root, "bench", options.partial ? "RESULTS-partial.md" : "RESULTS.md"), report + "\n");
}

/** The ratios the worker pool and the PROXY protocol are judged by, per runtime, from this run's medians. */
function ratioLines(
  all: Contender[],
  workloads: Workload[],
  value: (contender: Contender, workload: Workload) => number,
): string[] {
  const lines: string[] = [];
  const byName = (name: string) => workloads.find((w) => w.name === name);
  const of = (runtime: string, mode: string) => all.find((c) => c.runtime === runtime && c.mode === mode);
  for (const runtime of new Set(all.map((c) => c.runtime))) {
    const cells: string[] = [];
    const [one, two] = [of(runtime, "pool1"), of(runtime, "pool2")];
    for (const name of ["spin", "tcp16", "tcp256", "connect"]) {
      const workload = byName(name);
      if (workload && one && two) {
        cells.push(`${name} 2 workers ÷ 1: ${ratio(value(two, workload), value(one, workload))}`);
      }
    }
    const [plain, proxied, async] = [byName("connect"), byName("proxyconnect"), of(runtime, "async")];
    if (plain && proxied && async) {
      cells.push(`connect PROXY on ÷ off: ${ratio(value(async, proxied), value(async, plain))}`);
      const raw = of(runtime, "raw");
      if (raw) cells.push(`raw server, header read ÷ none: ${ratio(value(raw, proxied), value(raw, plain))}`);
    }
    if (cells.length > 0) lines.push(`- **${runtime}**: ${cells.join("; ")}`);
  }
  return lines.length > 0 ? ["## Ratios", "", ...lines, ""] : [];
}

if (!existsSync(join(root, "scripts", "loadgen", "loadgen.c"))) {
  throw new Error(`cannot find the repository root: ${root}`);
}
await main();
