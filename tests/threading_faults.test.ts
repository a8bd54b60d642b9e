// Threading fault containment: an uncaught error, an unhandled rejection or an exit() in one handler costs the other
// requests on its worker nothing; the request it came from fails where the runtime tells which one it was.
// The server runs as a program of its own (tests/_fault_server.ts): see there why.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, test } from "node:test";
import { programCommand } from "./_echo_program.ts";
import type { FaultReport } from "./_fault_server.ts";
import { exchange, LineClient, REPO_ROOT, RUNTIME, waitFor, within } from "./_helpers.ts";

const HELLO = "hello world\n";

/**
 * Which faults each runtime lets the worker blame on the request they came from (see runtimes/_worker_faults.ts). A
 * fault blamed on the wrong request would close one of the 9 others: the tests below see that too.
 */
const ATTRIBUTED: Record<typeof RUNTIME, Record<"throw" | "reject" | "exit", boolean>> = {
  node: { throw: true, reject: true, exit: true },
  deno: { throw: false, reject: true, exit: false },
  bun: { throw: true, reject: false, exit: true },
};

interface FaultServer {
  readonly address: [string, number];
  readonly reports: FaultReport[];
  workersStarted(): Promise<number>;
}

/** Runs tests/_fault_server.ts around `body`, and checks it ends cleanly. */
async function withFaultServer(body: (server: FaultServer) => Promise<void>): Promise<void> {
  const [command, args] = programCommand("tests/_fault_server.ts", []);
  const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env } });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const reports: FaultReport[] = [];
  const stats: number[] = [];
  let port = 0;
  let pending = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    pending += chunk;
    for (let end = pending.indexOf("\n"); end >= 0; end = pending.indexOf("\n")) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      const listening = /^listening (\d+)$/.exec(line);
      if (listening) port = Number(listening[1]);
      else if (line.startsWith("{")) {
        const parsed = JSON.parse(line) as FaultReport & { workersStarted?: number };
        if (parsed.workersStarted !== undefined) stats.push(parsed.workersStarted);
        else reports.push(parsed);
      }
    }
  });
  try {
    await within(20_000, Promise.race([waitFor(() => port !== 0, 20_000, "listening"), exited.then(() => {})]));
    assert.notEqual(port, 0, `the server did not start: ${stderr}`);
    await body({
      address: ["127.0.0.1", port],
      reports,
      async workersStarted() {
        const seen = stats.length;
        child.stdin.write("stats\n");
        await waitFor(() => stats.length > seen, 5000, "stats");
        return stats[seen];
      },
    });
    child.stdin.end();
    assert.equal(await within(15_000, exited), 0, `the server exits cleanly: ${stderr}`);
  } finally {
    child.kill();
  }
}

/** Opens `count` clients and has each one's request running (one line echoed). */
async function busyClients(address: [string, number], count: number): Promise<LineClient[]> {
  const clients = await Promise.all(Array.from({ length: count }, () => LineClient.open(address)));
  await Promise.all(clients.map(async (client, i) => {
    client.send(`first ${i}\n`);
    assert.equal(await client.readLine(10_000), `first ${i}\n`);
  }));
  return clients;
}

async function allAnswer(clients: LineClient[], tag: string): Promise<void> {
  await Promise.all(clients.map(async (client, i) => {
    client.send(`${tag} ${i}\n`);
    assert.equal(await client.readLine(10_000), `${tag} ${i}\n`, `client ${i} is still served`);
  }));
}

describe("threading: a faulty handler costs only its own request", () => {
  for (
    const [word, kind, message] of [
      ["throw", "error", /thrown from a timer on purpose/],
      ["reject", "rejection", /rejected on purpose/],
      ["exit", "error", /exit\(5\)/],
    ] as const
  ) {
    const attributed = ATTRIBUTED[RUNTIME][word];
    test(
      `${word}: 9 other clients on the same worker are served; the fault is ${
        attributed ? "the request's" : "reported on its own"
      }; the worker goes on`,
      async () => {
        await withFaultServer(async (server) => {
          const others = await busyClients(server.address, 9);
          const faulty = await LineClient.open(server.address);
          try {
            faulty.send(`${word}\n`);
            await waitFor(() => server.reports.length === 1, 10_000, "handleError");
            const report = server.reports[0];
            if (attributed) {
              // As if the handler had thrown it: reported with its request, whose connection is closed.
              assert.notEqual(report.name, "WorkerFaultError", `the fault itself, got ${report.name}`);
              assert.match(report.message, message);
              if (word === "exit") assert.equal(report.name, "ExitInWorkerError");
              assert.ok(report.request);
              assert.ok(Array.isArray(report.clientAddress));
              await faulty.ended(10_000);
            } else {
              // Reported with no request; the faulty request itself goes on.
              assert.equal(report.name, "WorkerFaultError");
              assert.equal(report.kind, kind);
              assert.match(report.message, message);
              assert.match(String(report.cause), message);
              assert.equal(report.request, false);
              faulty.send("still here\n");
              assert.equal(await faulty.readLine(10_000), "still here\n");
            }
            await allAnswer(others, "after");
            assert.equal(await within(10_000, exchange(server.address, HELLO)), HELLO, "a new client is served");
            assert.equal(await server.workersStarted(), 1, "no worker died");
            assert.equal(server.reports.length, 1, "nothing else was reported");
          } finally {
            faulty.destroy();
            for (const client of others) client.destroy();
          }
        });
      },
    );
  }

  test("exit() in the handler itself fails that request with ExitInWorkerError on every runtime", async () => {
    await withFaultServer(async (server) => {
      const others = await busyClients(server.address, 3);
      try {
        assert.equal(await within(10_000, exchange(server.address, "exit-now\n")), "");
        await waitFor(() => server.reports.length === 1, 10_000, "handleError");
        const report = server.reports[0];
        assert.equal(report.name, "ExitInWorkerError");
        assert.equal(report.code, 7);
        assert.ok(Array.isArray(report.clientAddress));
        await allAnswer(others, "after");
        assert.equal(await server.workersStarted(), 1, "no worker died");
      } finally {
        for (const client of others) client.destroy();
      }
    });
  });
});
