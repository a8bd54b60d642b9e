/**
 * The TLS benchmark: this library's async TLS server against a raw `node:tls` server and the runtime's own TLS
 * listener on the same runtime, and CPython's `ThreadingTCPServer` + `ssl`, with the same certificate, in one run.
 *
 * `npm run bench:tls [-- --runtimes deno,bun,node] [--seconds 2] [--repeats 3]`. Workloads: `tls16`, persistent echo
 * of 64-byte lines on 16 connections, and `tlsconnect`, connect per request on 16 clients, each a full TLS 1.3
 * handshake (no session resumption) and one line. The load comes from `scripts/loadgen/tls_loadgen.c` (OpenSSL,
 * one blocking thread per connection), built with the machine's C compiler (it needs `libssl-dev`). Every server runs
 * for the whole benchmark (idle ones cost nothing) and runs are interleaved; medians are reported, with ratios taken
 * within the run. Writes `bench/TLS-RESULTS.md`.
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = here.includes("/dist/") ? join(here, "..", "..") : join(here, "..");
const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const index = argv.indexOf(name);
  return index >= 0 ? argv[index + 1] : undefined;
};
const runtimes = (flag("--runtimes") ?? "deno,bun,node").split(",");
const seconds = Number(flag("--seconds") ?? 2);
const repeats = Number(flag("--repeats") ?? 3);
const WORKLOADS = [
  { name: "tls16", mode: "echo", unit: "ops/s" },
  { name: "tlsconnect", mode: "connect", unit: "conn/s" },
] as const;

interface Contender {
  readonly name: string;
  readonly runtime: string;
  readonly kind: string;
  readonly command: string[];
}

function contenders(): Contender[] {
  const bin = (name: string) => join(root, "node_modules", ".bin", name);
  const launch: Record<string, string[]> = {
    deno: [bin("deno"), "run", "-A", join(root, "scripts", "bench_tls_server.ts")],
    bun: [bin("bun"), join(root, "scripts", "bench_tls_server.ts")],
    node: [process.execPath, join(root, "dist", "scripts", "bench_tls_server.js")],
  };
  const list: Contender[] = [];
  for (const runtime of runtimes) {
    const start = launch[runtime];
    if (start === undefined) throw new Error(`unknown runtime ${runtime}: use deno, bun, node`);
    for (const kind of ["library", "raw", ...(runtime === "node" ? [] : ["native"])]) {
      list.push({ name: `${runtime} ${kind}`, runtime, kind, command: [...start, kind] });
    }
  }
  const fixtures = join(root, "tests", "fixtures", "tls");
  list.push({
    name: "CPython ThreadingTCPServer+ssl",
    runtime: "python",
    kind: "cpython",
    command: [
      "python3",
      join(root, "scripts", "bench_tls_python.py"),
      "threading",
      join(fixtures, "server.pem"),
      join(
        fixtures,
        "server.key",
      ),
    ],
  });
  return list;
}

function start(contender: Contender): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = contender.command;
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"], cwd: root });
    let output = "";
    const timer = setTimeout(() => reject(new Error(`${contender.name} did not start`)), 20_000);
    child.stdout!.on("data", (chunk) => {
      output += chunk;
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.once("exit", (code) => reject(new Error(`${contender.name} exited with ${code}`)));
  });
}

function load(loadgen: string, mode: string, port: number): number {
  const out = execFileSync(loadgen, [mode, "127.0.0.1", String(port), "16", String(seconds)], { encoding: "utf8" });
  return (JSON.parse(out) as { opsPerSecond: number }).opsPerSecond;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const build = join(tmpdir(), `sockserve-tls-loadgen-${process.pid}`);
  execFileSync("cc", [
    "-O2",
    "-o",
    build,
    join(root, "scripts", "loadgen", "tls_loadgen.c"),
    "-lssl",
    "-lcrypto",
    "-lpthread",
  ], { stdio: "inherit" });
  const list = contenders();
  const servers = new Map<string, { child: ChildProcess; port: number }>();
  try {
    for (const contender of list) servers.set(contender.name, await start(contender));
    const samples = new Map<string, number[]>();
    for (let round = 0; round < repeats; round++) {
      for (const workload of WORKLOADS) {
        for (const contender of list) {
          const rate = load(build, workload.mode, servers.get(contender.name)!.port);
          const key = `${workload.name} ${contender.name}`;
          samples.set(key, [...(samples.get(key) ?? []), rate]);
          console.log(`${key}: ${Math.round(rate)} ${workload.unit}`);
        }
      }
    }
    const value = (workload: string, name: string) => median(samples.get(`${workload} ${name}`) ?? []);
    const lines = [
      `# TLS benchmark (${new Date().toISOString().slice(0, 10)}; ${seconds} s runs, median of ${repeats})`,
      "",
      "| workload | server | rate | ÷ raw node:tls | ÷ native | ÷ CPython threading+ssl |",
      "|---|---|---:|---:|---:|---:|",
    ];
    const python = "CPython ThreadingTCPServer+ssl";
    for (const workload of WORKLOADS) {
      for (const contender of list) {
        const rate = value(workload.name, contender.name);
        const ratio = (other: string) => {
          const base = value(workload.name, other);
          return contender.kind === "library" && Number.isFinite(base) ? `${(rate / base).toFixed(2)}×` : "";
        };
        lines.push(
          `| ${workload.name} | ${contender.name} | ${Math.round(rate)} ${workload.unit} | ` +
            `${ratio(`${contender.runtime} raw`)} | ${ratio(`${contender.runtime} native`)} | ${ratio(python)} |`,
        );
      }
    }
    const table = lines.join("\n") + "\n";
    console.log(`\n${table}`);
    mkdirSync(join(root, "bench"), { recursive: true });
    writeFileSync(join(root, "bench", "TLS-RESULTS.md"), table);
  } finally {
    for (const { child } of servers.values()) child.kill("SIGKILL");
  }
}

await main();
