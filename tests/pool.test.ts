// The worker pool: N worker processes serving one address, spread by reusePort or handed over by the primary.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import process from "node:process";
import { describe, test } from "node:test";
import { listenFdsFromEnvironment, type PoolSpread, StreamRequestHandler, WorkerPool } from "../mod.ts";
import { LineClient, RUNTIME, socketPath, udpExchange, waitFor, within } from "./_helpers.ts";
import { PoolCommands, PoolDatagramPid } from "./pool_handlers.ts";
import { CA, refused, SERVER, tlsExchange } from "./_tls.ts";

/** The spreads this runtime offers for TCP: reusePort where it has it, handOver everywhere. */
const TCP_SPREADS: PoolSpread[] = new WorkerPool(["127.0.0.1", 0], PoolCommands).spread === "reusePort"
  ? ["reusePort", "handOver"]
  : ["handOver"];

/** Asks `count` new connections, `parallel` at a time, which process serves them; returns the pids seen. */
async function pidsOf(address: unknown, count: number, parallel = 8): Promise<number[]> {
  const pids: number[] = [];
  for (let done = 0; done < count; done += parallel) {
    await Promise.all(Array.from({ length: Math.min(parallel, count - done) }, async () => {
      const client = await LineClient.open(address as never);
      try {
        client.send("pid\n");
        pids.push(Number(await client.readLine()));
      } finally {
        client.destroy();
      }
    }));
  }
  return pids;
}

describe("worker pool: spreading", () => {
  for (const spread of TCP_SPREADS) {
    test(`TCP, ${spread}: 40 connections reach both of 2 workers, on one port`, async () => {
      await using pool = await new WorkerPool(["127.0.0.1", 0], PoolCommands, { workers: 2, spread }).listen();
      assert.equal(pool.spread, spread);
      const [host, port] = pool.serverAddress as [string, number];
      assert.equal(host, "127.0.0.1");
      assert.ok(port > 0);
      const workers = pool.workerPids;
      assert.equal(workers.length, 2);
      assert.ok(!workers.includes(process.pid));
      const pids = await within(20_000, pidsOf(pool.serverAddress, 40), "40 connections");
      assert.deepEqual(new Set(pids), new Set(workers));
    });
  }

  test("unix stream: connections are handed over to both of 2 workers", async () => {
    const path = socketPath("pool");
    await using pool = await new WorkerPool(path, PoolCommands, { workers: 2 }).listen();
    assert.equal(pool.spread, "handOver");
    assert.equal(pool.serverAddress, path);
    const pids = await within(20_000, pidsOf(path, 20), "20 connections");
    assert.deepEqual(new Set(pids), new Set(pool.workerPids));
  });

  test("UDP: reusePort spreads datagrams where the runtime has it, one worker otherwise", async () => {
    await using pool = await new WorkerPool(["127.0.0.1", 0], PoolDatagramPid, { workers: 2, type: "datagram" })
      .listen();
    const expected = RUNTIME === "bun" || pool.runtime.reusePort?.datagram ? "reusePort" : "single";
    assert.equal(pool.spread, expected);
    assert.equal(pool.workerPids.length, expected === "single" ? 1 : 2);
    const pids = new Set<number>();
    // Each exchange comes from a new client socket (a new source port): the kernel's hash picks a worker per port.
    for (let i = 0; i < 40; i++) {
      const reply = await within(5000, udpExchange(pool.serverAddress as never, `n${i}`), "a datagram");
      const [pid, echoed] = (reply ?? "no reply").split(":");
      assert.equal(echoed, `n${i}`);
      pids.add(Number(pid));
    }
    assert.deepEqual(pids, new Set(pool.workerPids));
  });
});

describe("worker pool: TLS", () => {
  for (const spread of TCP_SPREADS) {
    test(`TCP, ${spread}: each worker runs the handshake, client certificates required`, async () => {
      const tls = { ...SERVER, ca: CA, clientCertificates: "require" as const };
      await using pool = await new WorkerPool(["127.0.0.1", 0], PoolCommands, {
        workers: 2,
        spread,
        serverOptions: { tls },
      }).listen();
      const pids = new Set<number>();
      for (let round = 0; round < 4; round++) {
        const answers = await Promise.all(
          Array.from({ length: 4 }, () => tlsExchange(pool.serverAddress, "pid\n", { as: "alice" })),
        );
        for (const answer of answers) pids.add(Number(answer));
      }
      assert.deepEqual(pids, new Set(pool.workerPids));
      // A client without a certificate never reaches a handler, and the workers go on.
      await refused(tlsExchange(pool.serverAddress, "pid\n"));
      assert.ok(pool.workerPids.includes(Number(await tlsExchange(pool.serverAddress, "pid\n", { as: "bob" }))));
    });
  }

  test("unix stream, handOver: TLS connections reach both of 2 workers", async () => {
    const path = socketPath("pool-tls");
    await using pool = await new WorkerPool(path, PoolCommands, { workers: 2, serverOptions: { tls: SERVER } })
      .listen();
    const answers = await Promise.all(Array.from({ length: 8 }, () => tlsExchange(path, "pid\n")));
    assert.deepEqual(new Set(answers.map(Number)), new Set(pool.workerPids));
  });
});

/** One connection asking its worker's pid: the pid, or the error's code when the connection failed. */
async function onePid(address: unknown): Promise<number | string> {
  try {
    const client = await LineClient.open(address as never);
    try {
      client.send("pid\n");
      const line = await client.readLine();
      return line === null ? "closed" : Number(line);
    } finally {
      client.destroy();
    }
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

describe("worker pool: crashes, draining, reload", () => {
  test("a worker killed with SIGKILL is replaced, and the pool goes on serving", async () => {
    await using pool = await new WorkerPool(["127.0.0.1", 0], PoolCommands, { workers: 2 }).listen();
    const [victim, survivor] = pool.workerPids;
    process.kill(victim, "SIGKILL");
    await waitFor(() => pool.workerPids.length === 2 && !pool.workerPids.includes(victim), 15_000, "a replacement");
    assert.ok(pool.workerPids.includes(survivor));
    const pids = await within(20_000, pidsOf(pool.serverAddress, 40), "40 connections");
    assert.deepEqual(new Set(pids), new Set(pool.workerPids));
  });

  test("serverClose() lets a request in flight finish, then every worker exits", async () => {
    const pool = await new WorkerPool(["127.0.0.1", 0], PoolCommands, { workers: 2, drainTimeout: 5000 }).listen();
    const pids = pool.workerPids;
    const client = await LineClient.open(pool.serverAddress as never);
    client.send("slow 400\n");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closed = pool.serverClose();
    assert.equal(await client.readLine(), "done\n");
    client.destroy();
    await within(10_000, closed, "serverClose()");
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/);
  });

  test("drainTimeout bounds serverClose(): a request still running is cut", async () => {
    const pool = await new WorkerPool(["127.0.0.1", 0], PoolCommands, { workers: 1, drainTimeout: 200 }).listen();
    const client = await LineClient.open(pool.serverAddress as never);
    client.send("slow 60000\n");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await within(8000, pool.serverClose(), "serverClose()");
    assert.ok(Date.now() - started < 5000);
    assert.equal(await client.readLine(), null);
    client.destroy();
  });

  test("SIGTERM to a worker drains it: its request finishes, and a new worker takes its place", async () => {
    await using pool = await new WorkerPool(["127.0.0.1", 0], PoolCommands, { workers: 1 }).listen();
    const [worker] = pool.workerPids;
    const client = await LineClient.open(pool.serverAddress as never);
    client.send("slow 400\n");
    await new Promise((resolve) => setTimeout(resolve, 100));
    process.kill(worker, "SIGTERM");
    assert.equal(await client.readLine(), "done\n");
    client.destroy();
    await waitFor(() => pool.workerPids.length === 1 && pool.workerPids[0] !== worker, 15_000, "a replacement");
    assert.notEqual(await onePid(pool.serverAddress), worker);
  });

  for (const spread of TCP_SPREADS) {
    // With reusePort, closing an old worker's listener resets what waits in its queue unless tcp_migrate_req is 1.
    const migrates = readMigrateReq() === "1";
    const skip = spread === "reusePort" && !migrates ? "net.ipv4.tcp_migrate_req is not 1" : false;
    test(
      `reload() under a steady connect load (${spread}): nothing refused, the new workers serve`,
      { skip },
      async () => {
        await using pool = await new WorkerPool(["127.0.0.1", 0], PoolCommands, { workers: 2, spread }).listen();
        const old = pool.workerPids;
        const failures: (number | string)[] = [];
        const seen = new Set<number>();
        let loading = true;
        const load = Array.from({ length: 4 }, async () => {
          while (loading) {
            const outcome = await onePid(pool.serverAddress);
            if (typeof outcome === "number" && outcome > 0) seen.add(outcome);
            else failures.push(outcome);
          }
        });
        await new Promise((resolve) => setTimeout(resolve, 300));
        await within(30_000, pool.reload(), "reload()");
        const fresh = pool.workerPids;
        assert.equal(fresh.length, 2);
        assert.ok(fresh.every((pid) => !old.includes(pid)));
        await new Promise((resolve) => setTimeout(resolve, 300));
        loading = false;
        await load;
        assert.deepEqual(failures, []);
        assert.ok(fresh.some((pid) => seen.has(pid)), "the new workers served");
        for (const pid of old) assert.throws(() => process.kill(pid, 0), /ESRCH/);
      },
    );
  }
});

function readMigrateReq(): string {
  try {
    return readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim();
  } catch {
    return "";
  }
}

describe("worker pool: options and socket activation", () => {
  test("bad options are refused before anything starts, saying what is allowed", () => {
    assert.throws(() => new WorkerPool(["127.0.0.1", 0], PoolCommands, { workers: 0 }), RangeError);
    assert.throws(() => new WorkerPool(["127.0.0.1", 0], PoolCommands, { drainTimeout: -1 }), RangeError);
    assert.throws(() => new WorkerPool(["127.0.0.1", 0], PoolCommands, { listenFd: -3 }), RangeError);
    assert.throws(
      () => new WorkerPool(socketPath("bad"), PoolCommands, { spread: "reusePort" }),
      /spread reusePort needs a \[host, port\] address/,
    );
    assert.throws(
      () => new WorkerPool(["127.0.0.1", 0], PoolDatagramPid, { type: "datagram", spread: "handOver" }),
      /datagrams cannot be handed over/,
    );
    assert.throws(() => new WorkerPool(socketPath("bad"), PoolCommands, { type: "datagram" }), /not unix datagrams/);
    class NotByUrl extends StreamRequestHandler {}
    assert.throws(() => new WorkerPool(["127.0.0.1", 0], NotByUrl), /moduleUrl/);
  });

  test("a worker that cannot bind fails listen() with the reason, and nothing is left running", async () => {
    await using taken = await new WorkerPool(["127.0.0.1", 0], PoolCommands, { workers: 1, spread: "handOver" })
      .listen();
    const pool = new WorkerPool(taken.serverAddress, PoolCommands, { workers: 1 });
    await assert.rejects(pool.listen(), /in use/);
    assert.deepEqual(pool.workerPids, []);
  });

  test("a handler the workers cannot import fails listen() with HandlerLoadError naming the export", async () => {
    class Missing extends StreamRequestHandler {
      static override moduleUrl: string = PoolCommands.moduleUrl!;
      static override exportName: string = "NoSuchHandler";
    }
    const pool = new WorkerPool(["127.0.0.1", 0], Missing, { workers: 2 });
    await assert.rejects(
      pool.listen(),
      (error: Error) => error.name === "HandlerLoadError" && /NoSuchHandler/.test(error.message),
    );
    assert.deepEqual(pool.workerPids, []);
  });

  test("listenFdsFromEnvironment: LISTEN_FDS descriptors from 3, only for the process LISTEN_PID names", () => {
    assert.deepEqual(listenFdsFromEnvironment({ LISTEN_FDS: "2", LISTEN_PID: "42" }, 42), [3, 4]);
    assert.deepEqual(listenFdsFromEnvironment({ LISTEN_FDS: "2", LISTEN_PID: "41" }, 42), []);
    assert.deepEqual(listenFdsFromEnvironment({}, 42), []);
    assert.throws(() => listenFdsFromEnvironment({ LISTEN_FDS: "x", LISTEN_PID: "42" }, 42), RangeError);
  });
});
