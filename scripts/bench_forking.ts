/**
 * The forking mix-in's connection rate (connect, one line, close), as ratios measured in one run, on the runtime that
 * runs this script:
 *
 * ```
 * deno run -A scripts/bench_forking.ts [--quick] | bun scripts/bench_forking.ts | node dist/scripts/bench_forking.js
 * ```
 *
 * Contenders, each measured with the same load (8 connections at a time from `scripts/loadgen/loadgen.c`, built with
 * the machine's C compiler, so the client takes little of the 2 cores):
 * - `bare start`: this runtime started on an empty module and exited, 8 at a time, by this process: the ceiling of a
 *   process per request.
 * - `fork 1/child`: `ForkingTCPServer` with `examples/echo_handlers.ts`'s `LineEcho` (a handler module importing
 *   the library's `handlers.ts` entrypoint), one request per child: the default. Target: at least 0.8× `bare start`.
 * - `fork lean`: the same with a handler module importing only `StreamRequestHandler` (full run only): the
 *   difference is what loading the library costs each child.
 * - `fork reused`: `requestsPerChild: Infinity`: children started once and reused. Target: at least CPython.
 * - `CPython fork`: CPython's `ForkingTCPServer` with the same handler (`scripts/bench_python.py`).
 *
 * Besides the rates it prints where the time goes: CPU milliseconds per request in the parent (accepting, starting
 * children, passing sockets) and in the children (runtime start, module loading, the handler), read from `/proc`.
 * Rounds alternate the order of contenders and report medians, since a shared 2-core machine is noisy: compare
 * ratios, never absolute numbers across runs. About a minute; `--quick` about 12 s. `--only "floor,fork reused"` runs
 * some contenders only.
 *
 * @module
 */
import { type ChildProcess, execFileSync, fork, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { LineEcho } from "../examples/echo_handlers.ts";
import {
  type Connection,
  ForkingTCPServer,
  type RequestHandlerClass,
  runtimeName,
  type SocketAddress,
} from "../mod.ts";
import { LeanLineEcho } from "./bench_forking_handlers.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = here.includes("/dist/") ? join(here, "..", "..") : join(here, "..");
const CONCURRENCY = 8;
/** Clock ticks per second of `/proc/<pid>/stat` times (Linux's USER_HZ). */
const TICKS = 100;

interface Sample {
  /** Requests (or process starts) per second. */
  readonly rate: number;
  /** CPU ms per request in the process that serves (or spawns). */
  readonly parentMs: number;
  /** CPU ms per request in child processes. */
  readonly childMs: number;
}

interface Contender {
  readonly name: string;
  readonly what: string;
  readonly measure: (seconds: number) => Promise<Sample>;
}

// ---- /proc ----

interface CpuTimes {
  /** utime + stime, in ticks. */
  readonly own: number;
  /** cutime + cstime (children waited for), in ticks. */
  readonly children: number;
}

function cpuTimes(pid: number | "self"): CpuTimes | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return { own: Number(fields[11]) + Number(fields[12]), children: Number(fields[13]) + Number(fields[14]) };
  } catch {
    return null;
  }
}

const ms = (ticks: number): number => (ticks * 1000) / TICKS;

// ---- load ----

function buildLoadgen(): string {
  const dir = join(tmpdir(), "sockserve-bench");
  mkdirSync(dir, { recursive: true });
  const out = join(dir, "loadgen");
  execFileSync("cc", ["-O2", "-o", out, join(root, "scripts", "loadgen", "loadgen.c")], { stdio: "inherit" });
  return out;
}

interface LoadResult {
  readonly ops: number;
  readonly opsPerSecond: number;
  /** CPU ticks the load generator used (it is this process's child: its time lands in our `children`). */
  readonly ticks: number;
}

/** Runs `loadgen connect` against `port` for `seconds`, sampling its CPU time until it exits. */
function runLoad(loadgen: string, port: number, seconds: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(loadgen, ["connect", "127.0.0.1", String(port), String(CONCURRENCY), String(seconds)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    let ticks = 0;
    const sample = () => (ticks = cpuTimes(child.pid!)?.own ?? ticks);
    const sampler = setInterval(sample, 20);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
      sample();
    });
    child.on("error", reject);
    // `close`, not `exit`: on Deno, `exit` may come before the last of stdout.
    child.on("close", (code) => {
      clearInterval(sampler);
      const result = JSON.parse(output.trim().split("\n").pop() || "{}");
      if (code !== 0 || !Number.isFinite(result.opsPerSecond)) reject(new Error(`loadgen exited ${code}: ${output}`));
      else resolve({ ops: result.ops, opsPerSecond: result.opsPerSecond, ticks });
    });
  });
}

// ---- contenders ----

/** The command that starts this runtime on `module`, as a forking server's child would be (Deno: no permission). */
function bareCommand(module: string): [string, string[]] {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (deno !== undefined) return [deno.execPath(), ["run", "--no-prompt", "--deny-run", module]];
  return [process.execPath, [module]];
}

function bareStart(): Contender {
  const module = join(tmpdir(), "sockserve-bench", "empty.mjs");
  writeFileSync(module, "export {};\n");
  const [command, args] = bareCommand(module);
  return {
    name: "bare start",
    what: `${runtimeName()} on an empty module, start to exit, ${CONCURRENCY} at a time`,
    async measure(seconds) {
      const startOne = () =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(command, args, { stdio: "ignore" });
          child.on("error", reject);
          child.on("exit", () => resolve());
        });
      const warmupEnd = Date.now() + 300;
      const runUntil = async (end: number) => {
        const lanes = Array.from({ length: CONCURRENCY }, async () => {
          let count = 0;
          while (Date.now() < end) {
            await startOne();
            count++;
          }
          return count;
        });
        return (await Promise.all(lanes)).reduce((a, b) => a + b, 0);
      };
      await runUntil(warmupEnd);
      const before = cpuTimes("self")!;
      const started = Date.now();
      const count = await runUntil(started + seconds * 1000);
      const elapsed = (Date.now() - started) / 1000;
      const after = cpuTimes("self")!;
      return {
        rate: count / elapsed,
        parentMs: ms(after.own - before.own) / count,
        childMs: ms(after.children - before.children) / count,
      };
    },
  };
}

/** The child of {@link floorServer}: receives one connection, echoes until end of input, exits. No library. */
const FLOOR_CHILD = `import net from "node:net";
process.on("message", (message, handle) => {
  if (message === "exit") process.exit(0);
  const socket = handle instanceof net.Socket ? handle : new net.Socket({ handle, allowHalfOpen: true });
  socket.on("data", (chunk) => socket.write(chunk));
  socket.on("end", () => socket.end(() => process.exit(0)));
  socket.on("error", () => process.exit(1));
});
process.send("ready");
`;

/**
 * The same design without the library: a \`node:net\` server handing each connection to a child started ahead of
 * need (two spares), each child receiving it over IPC, echoing, and exiting. What any socket-passing server must pay.
 */
function floorServer(loadgen: string): Contender {
  const module = join(tmpdir(), "sockserve-bench", "floor_child.mjs");
  writeFileSync(module, FLOOR_CHILD);
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  const bun = (globalThis as { Bun?: unknown }).Bun !== undefined;
  const start = (): ChildProcess =>
    deno !== undefined
      ? spawn(deno.execPath(), ["run", "--no-prompt", "--deny-run", module], {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      })
      : fork(module, [], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] });
  return {
    name: "floor",
    what: "no library: node:net + a child per connection over IPC (2 spares)",
    async measure(seconds) {
      const ready: ChildProcess[] = [];
      const waiting: Array<(child: ChildProcess) => void> = [];
      let starting = 0;
      let closing = false;
      const spawnOne = () => {
        starting++;
        const child = start();
        child.once("message", () => {
          starting--;
          if (closing) {
            child.send("exit");
            return;
          }
          const taker = waiting.shift();
          if (taker !== undefined) taker(child);
          else ready.push(child);
        });
      };
      const topUp = () => {
        while (!closing && ready.length + starting - waiting.length < 2) spawnOne();
      };
      const server = net.createServer({ pauseOnConnect: true }, (socket) => {
        const child = ready.shift();
        const send = (target: ChildProcess) => {
          const handle = bun ? socket : (socket as unknown as { _handle: unknown })._handle;
          target.send("request", handle as never, () => socket.destroy());
        };
        if (child !== undefined) send(child);
        else waiting.push(send);
        topUp();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      topUp();
      try {
        const port = (server.address() as net.AddressInfo).port;
        await runLoad(loadgen, port, 0.4);
        const before = cpuTimes("self")!;
        const load = await runLoad(loadgen, port, seconds);
        const after = cpuTimes("self")!;
        return {
          rate: load.opsPerSecond,
          parentMs: ms(after.own - before.own) / load.ops,
          childMs: ms(Math.max(0, after.children - before.children - load.ticks)) / load.ops,
        };
      } finally {
        closing = true;
        server.close();
        for (const child of ready.splice(0)) child.send("exit");
      }
    },
  };
}

function forkingServer(
  loadgen: string,
  name: string,
  what: string,
  handler: RequestHandlerClass<Connection, SocketAddress>,
  requestsPerChild: number,
): Contender {
  return {
    name,
    what,
    async measure(seconds) {
      const server = await new ForkingTCPServer(["127.0.0.1", 0], handler, {
        requestQueueSize: 4096,
        requestsPerChild,
        drainTimeout: 2000,
      }).listen();
      let errors = 0;
      server.handleError = () => void errors++;
      const loop = server.serveForever();
      try {
        const port = server.serverAddress[1];
        // Warm-up: until the pool stops growing (reused children are started once; then only requests are measured).
        for (let round = 0, size = -1; round < 8 && server.activeChildren.size !== size; round++) {
          size = server.activeChildren.size;
          await runLoad(loadgen, port, 0.4);
          if (requestsPerChild === 1) break;
        }
        const pids = [...server.activeChildren];
        const childrenBefore = pids.map((pid) => cpuTimes(pid)?.own ?? 0);
        const before = cpuTimes("self")!;
        const load = await runLoad(loadgen, port, seconds);
        const after = cpuTimes("self")!;
        // Reused children live through the run: read them directly. One-shot children are reaped by this process.
        const livingTicks = pids.reduce(
          (sum, pid, i) => sum + Math.max(0, (cpuTimes(pid)?.own ?? childrenBefore[i]) - childrenBefore[i]),
          0,
        );
        const reapedTicks = after.children - before.children - load.ticks;
        return {
          rate: load.opsPerSecond,
          parentMs: ms(after.own - before.own) / load.ops,
          childMs: ms(Math.max(0, reapedTicks) + livingTicks) / load.ops,
        };
      } finally {
        await server.shutdown();
        await server.serverClose();
        await loop;
      }
    },
  };
}

function cpythonForking(loadgen: string): Contender {
  return {
    name: "CPython fork",
    what: "CPython ForkingTCPServer, same line echo",
    async measure(seconds) {
      const child = spawn("python3", [join(root, "scripts", "bench_python.py"), "forking", "tcp", "echo", "0"], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      try {
        const port = await new Promise<number>((resolve, reject) => {
          let output = "";
          child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
            output += chunk;
            const match = /listening on [^:]+:(\d+)/.exec(output);
            if (match) resolve(Number(match[1]));
          });
          child.on("error", reject);
          child.on("exit", (code) => reject(new Error(`python3 exited ${code} before listening`)));
        });
        await runLoad(loadgen, port, 0.4);
        const before = cpuTimes(child.pid!)!;
        const load = await runLoad(loadgen, port, seconds);
        const after = cpuTimes(child.pid!)!;
        return {
          rate: load.opsPerSecond,
          parentMs: ms(after.own - before.own) / load.ops,
          childMs: ms(after.children - before.children) / load.ops,
        };
      } finally {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

// ---- report ----

function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const fmt = (value: number, digits = 0): string => (Number.isFinite(value) ? value.toFixed(digits) : "–");

async function bench(quick: boolean): Promise<void> {
  const rounds = quick ? 1 : 3;
  const seconds = quick ? 1.2 : 2;
  const started = Date.now();
  const loadgen = buildLoadgen();
  const all: Contender[] = [
    bareStart(),
    floorServer(loadgen),
    forkingServer(loadgen, "fork 1/child", "ForkingTCPServer, LineEcho (imports handlers.ts), default", LineEcho, 1),
    forkingServer(loadgen, "fork lean", "the same, handler importing one module", LeanLineEcho, 1),
    forkingServer(loadgen, "fork reused", "ForkingTCPServer, LineEcho, requestsPerChild: Infinity", LineEcho, Infinity),
    cpythonForking(loadgen),
  ];
  const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1].split(",") : null;
  const contenders = only === null ? all : all.filter((contender) => only.includes(contender.name));
  console.log(
    `bench_forking on ${runtimeName()}, ${availableParallelism()} cores: connect + one 64-byte line + close, ` +
      `${CONCURRENCY} at a time, ${rounds} round(s) of ${seconds} s per contender`,
  );
  const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const contender of order) {
      try {
        process.stderr.write(`  ${contender.name}…\n`);
        samples.get(contender.name)!.push(await contender.measure(seconds));
      } catch (error) {
        console.log(`${contender.name}: failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  const rate = (name: string) => median((samples.get(name) ?? []).map((s) => s.rate));
  console.log(
    `\n${"contender".padEnd(15)} ${"conn/s".padStart(8)} ${"parent ms/req".padStart(14)} ${
      "child ms/req".padStart(13)
    }  what`,
  );
  for (const contender of contenders) {
    const list = samples.get(contender.name) ?? [];
    console.log(
      `${contender.name.padEnd(15)} ${fmt(rate(contender.name)).padStart(8)} ` +
        `${fmt(median(list.map((s) => s.parentMs)), 2).padStart(14)} ${
          fmt(median(list.map((s) => s.childMs)), 2).padStart(13)
        }  ` +
        contender.what,
    );
  }
  const oneShot = rate("fork 1/child") / rate("bare start");
  const overFloor = rate("fork 1/child") / rate("floor");
  const reused = rate("fork reused") / rate("CPython fork");
  console.log(
    `\nratios: fork 1/child ÷ bare start = ${fmt(oneShot, 2)}× (target ≥ 0.80); ` +
      `fork 1/child ÷ floor = ${fmt(overFloor, 2)}×; floor ÷ bare start = ${
        fmt(rate("floor") / rate("bare start"), 2)
      }×; ` +
      `fork reused ÷ CPython fork = ${fmt(reused, 2)}× (target ≥ 1.00)`,
  );
  if (!quick) {
    console.log(
      `library loading per child: fork 1/child ÷ fork lean = ${fmt(rate("fork 1/child") / rate("fork lean"), 2)}×`,
    );
  }
  console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

await bench(process.argv.includes("--quick"));
