/**
 * Threading (handlers in Web Workers) against async (handlers on the main thread's event loop), as ratios measured in
 * one run, on the runtime that runs this script.
 *
 * ```
 * deno run -A scripts/bench_threading.ts [--quick] | bun scripts/bench_threading.ts | node dist/scripts/bench_threading.js
 * ```
 *
 * Workloads, each against a `ThreadingTCPServer` and an `AsyncTCPServer` living side by side in this process:
 * - `cpu`: hashing 1 MiB in plain JavaScript per request (4 persistent connections): what threading is for.
 * - `echo`: 64-byte line echo (16 persistent connections): all socket I/O stays in the main thread, so threading only
 *   adds two cross-thread hops per message; this is its cost, not its use.
 * - `connect`: connect, echo one line, close (8 at a time): adds handing each request to a worker.
 *
 * The load comes from a client process of the same runtime (this script with `--client`), so client and servers do
 * not share an event loop. Runs alternate (threading, async, async, threading, …) and the median ratio of the rounds
 * is reported, since a shared 2-core machine is noisy: compare ratios, not absolute numbers across runs. About 45 s;
 * `--quick` about 12 s.
 *
 * @module
 */
import { spawn } from "node:child_process";
import net from "node:net";
import { availableParallelism } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { LineEcho } from "../examples/echo_handlers.ts";
import { AsyncTCPServer, type RequestHandlerClass, runtimeName, ThreadingTCPServer } from "../mod.ts";
import type { Connection, SocketAddress } from "../mod.ts";
import { HashHandler } from "./bench_threading_handlers.ts";

interface Workload {
  readonly name: string;
  readonly what: string;
  readonly handler: RequestHandlerClass<Connection, SocketAddress>;
  readonly style: "persistent" | "connect";
  readonly connections: number;
}

const WORKLOADS: readonly Workload[] = [
  {
    name: "cpu",
    what: "FNV-1a (JS) of 1 MiB per request, 4 connections",
    handler: HashHandler,
    style: "persistent",
    connections: 4,
  },
  { name: "echo", what: "64-byte line echo, 16 connections", handler: LineEcho, style: "persistent", connections: 16 },
  { name: "connect", what: "connect + echo + close, 8 at a time", handler: LineEcho, style: "connect", connections: 8 },
];

const LINE = "x".repeat(63) + "\n";

// ---- client mode: a separate process making requests ----

interface ClientJob {
  readonly port: number;
  readonly style: "persistent" | "connect";
  readonly connections: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

async function runClient(job: ClientJob): Promise<number> {
  const start = Date.now() + job.warmupMs;
  const end = start + job.measureMs;
  let counted = 0;
  const count = () => {
    const now = Date.now();
    if (now >= start && now < end) counted++;
  };
  const loops = Array.from(
    { length: job.connections },
    () => job.style === "persistent" ? persistentLoop(job.port, end, count) : connectLoop(job.port, end, count),
  );
  await Promise.all(loops);
  return counted / (job.measureMs / 1000);
}

/** One connection sending a line and waiting for a reply line, again and again until `end`. */
function persistentLoop(port: number, end: number, count: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, noDelay: true });
    let pending = "";
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(LINE));
    socket.on("data", (chunk: string) => {
      pending += chunk;
      let newline = pending.indexOf("\n");
      while (newline >= 0) {
        pending = pending.slice(newline + 1);
        count();
        if (Date.now() >= end) {
          socket.end();
          return;
        }
        socket.write(LINE);
        newline = pending.indexOf("\n");
      }
    });
    socket.on("close", () => resolve());
    socket.on("error", reject);
  });
}

/** Connect, send a line, half-close, read the reply until the server closes; again until `end`. */
async function connectLoop(port: number, end: number, count: () => void): Promise<void> {
  while (Date.now() < end) {
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
      socket.on("connect", () => socket.end(LINE));
      socket.on("data", () => {});
      socket.on("end", () => {
        socket.destroy();
        count();
        resolve();
      });
      socket.on("error", reject);
    });
  }
}

// ---- bench mode ----

function clientCommand(job: ClientJob): [string, string[]] {
  const script = fileURLToPath(import.meta.url);
  const args = ["--client", JSON.stringify(job)];
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (deno !== undefined) return [deno.execPath(), ["run", "-A", script, ...args]];
  return [process.execPath, [script, ...args]];
}

function measure(job: ClientJob): Promise<number> {
  const [command, args] = clientCommand(job);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => (output += chunk));
    child.on("error", reject);
    child.on("exit", (code) => {
      const opsPerSecond = Number(output.trim());
      if (code === 0 && Number.isFinite(opsPerSecond)) resolve(opsPerSecond);
      else reject(new Error(`client exited with ${code}: ${output}`));
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function bench(quick: boolean): Promise<void> {
  const rounds = quick ? 1 : 3;
  const measureMs = quick ? 1000 : 2000;
  const warmupMs = quick ? 300 : 400;
  const started = Date.now();
  console.log(
    `bench_threading on ${runtimeName()}, ${availableParallelism()} cores, ${rounds} round(s) of ${measureMs} ms per ` +
      "server and workload; client in a separate process",
  );
  const results: Array<{ workload: Workload; threading: number[]; async: number[] }> = [];
  for (const workload of WORKLOADS) {
    const threading = await new ThreadingTCPServer(["127.0.0.1", 0], workload.handler).listen();
    const asyncServer = await new AsyncTCPServer(["127.0.0.1", 0], workload.handler).listen();
    const loops = [threading.serveForever(), asyncServer.serveForever()];
    const entry = { workload, threading: [] as number[], async: [] as number[] };
    try {
      for (let round = 0; round < rounds; round++) {
        // Alternate which server goes first, so that drift in machine load does not favour one.
        const order = round % 2 === 0 ? ["threading", "async"] as const : ["async", "threading"] as const;
        for (const which of order) {
          const server = which === "threading" ? threading : asyncServer;
          const port = (server.serverAddress as readonly [string, number])[1];
          const ops = await measure({
            port,
            style: workload.style,
            connections: workload.connections,
            warmupMs,
            measureMs,
          });
          entry[which].push(ops);
        }
      }
    } finally {
      await Promise.all([threading.shutdown(), asyncServer.shutdown()]);
      await Promise.all([threading.serverClose(), asyncServer.serverClose()]);
      await Promise.all(loops);
    }
    results.push(entry);
    const ratios = entry.threading.map((ops, i) => ops / entry.async[i]);
    console.log(
      `${workload.name.padEnd(8)} ${workload.what.padEnd(46)} async ${fmt(median(entry.async))}/s  ` +
        `threading ${fmt(median(entry.threading))}/s  ratio ${median(ratios).toFixed(2)}× ` +
        `(rounds: ${ratios.map((r) => r.toFixed(2)).join(", ")})`,
    );
  }
  console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(
    "What bounds each ratio: cpu — the cores (the main thread and the client need some too; 2 workers on 2 cores " +
      "cannot reach 2×); echo and connect — every byte still goes through the main thread, plus two MessagePort hops " +
      "(and for connect, starting the request in a worker), so threading is slower there by design.",
  );
}

function fmt(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)}k` : value.toFixed(0);
}

const argv = process.argv.slice(2);
const clientAt = argv.indexOf("--client");
if (clientAt >= 0) {
  const ops = await runClient(JSON.parse(argv[clientAt + 1]) as ClientJob);
  console.log(String(ops));
} else {
  await bench(argv.includes("--quick"));
}
