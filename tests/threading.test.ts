// The threading mix-in: handlers in worker threads, on every transport, with flow control, faults and closing.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type net from "node:net";
import { describe, test } from "node:test";
import {
  BaseServer,
  HandlerLoadError,
  type RequestEntry,
  type SocketAddress,
  StreamRequestHandler,
  ThreadingMixIn,
  ThreadingTCPServer,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
  ThreadingUnixStreamServer,
  UnsupportedError,
  WorkerExitedError,
} from "../mod.ts";
import {
  connect,
  exchange,
  HAS_UNIX_DATAGRAM,
  LineClient,
  recordErrors,
  RUNTIME,
  serving,
  sleep,
  socketPath,
  udpExchange,
  unixDatagramExchange,
  waitFor,
  within,
} from "./_helpers.ts";
import {
  Burner,
  Closer,
  Counter,
  DatagramThrower,
  Describe,
  Firehose,
  InputWatcher,
  LateCounter,
  Slow,
  Summer,
  ThreadEcho,
  Thrower,
  Ticker,
  UpperDatagram,
} from "./threading_handlers.ts";

const HELLO = "hello world\n";
const MiB = 1024 * 1024;

/** A handler whose module does not exist. */
export class NowhereHandler extends StreamRequestHandler {
  static override moduleUrl: string = new URL("./no_such_module_for_threading.ts", import.meta.url).href;
}

/** A handler whose module exists but does not export it under this name. */
export class UnexportedHandler extends StreamRequestHandler {
  static override moduleUrl: string = ThreadEcho.moduleUrl;
  static override exportName = "NoSuchExport";
}

/** A handler that forgot `moduleUrl`. */
class UnlocatedHandler extends StreamRequestHandler {}

describe("threading: echo on every transport", () => {
  test("ThreadingTCPServer echoes hello world three times", async () => {
    await serving(new ThreadingTCPServer(["127.0.0.1", 0], ThreadEcho), async (server) => {
      for (let i = 0; i < 3; i++) assert.equal(await within(10_000, exchange(server.serverAddress, HELLO)), HELLO);
    });
  });

  test("ThreadingTCPServer over IPv6", async () => {
    await serving(new ThreadingTCPServer(["::1", 0], ThreadEcho), async (server) => {
      assert.equal(await within(10_000, exchange(server.serverAddress, HELLO)), HELLO);
    });
  });

  test("ThreadingUnixStreamServer echoes hello world three times", async () => {
    await serving(new ThreadingUnixStreamServer(socketPath("thr"), ThreadEcho), async (server) => {
      for (let i = 0; i < 3; i++) assert.equal(await within(10_000, exchange(server.serverAddress, HELLO)), HELLO);
    });
  });

  test("ThreadingUDPServer answers each datagram from a worker", async () => {
    await serving(new ThreadingUDPServer(["127.0.0.1", 0], UpperDatagram), async (server) => {
      for (let i = 0; i < 3; i++) {
        assert.equal(await udpExchange(server.serverAddress, HELLO, 8000), HELLO.toUpperCase());
      }
    });
  });

  if (HAS_UNIX_DATAGRAM) {
    test("ThreadingUnixDatagramServer answers each datagram from a worker", async () => {
      await serving(new ThreadingUnixDatagramServer(socketPath("thd"), UpperDatagram), async (server) => {
        for (let i = 0; i < 3; i++) {
          assert.equal(await unixDatagramExchange(server.serverAddress, HELLO, 8000), HELLO.toUpperCase());
        }
      });
    });
  } else {
    test("ThreadingUnixDatagramServer refuses to listen where unix datagrams are missing", async () => {
      const server = new ThreadingUnixDatagramServer(socketPath("thd"), UpperDatagram);
      await assert.rejects(within(10_000, server.listen()), UnsupportedError);
    });
  }
});

describe("threading: concurrency", () => {
  test("32 concurrent clients, each holding its connection until all are connected", async () => {
    await serving(new ThreadingTCPServer(["127.0.0.1", 0], ThreadEcho, { maxWorkers: 2 }), async (server) => {
      const clients = await Promise.all(Array.from({ length: 32 }, () => LineClient.open(server.serverAddress)));
      try {
        for (const [i, client] of clients.entries()) client.send(`client ${i}\n`);
        const lines = await within(20_000, Promise.all(clients.map((client) => client.readLine(15_000))));
        assert.deepEqual(lines, clients.map((_, i) => `client ${i}\n`));
        assert.ok(server.workerCount <= 2, `at most maxWorkers workers, got ${server.workerCount}`);
      } finally {
        for (const client of clients) client.destroy();
      }
    });
  });

  test("a CPU-bound handler does not block a second client", { timeout: 60_000 }, async () => {
    await serving(new ThreadingTCPServer(["127.0.0.1", 0], Burner, { maxWorkers: 2 }), async (server) => {
      const order: string[] = [];
      // The busy request burns 6 s of CPU; the quick one needs a second worker, which may take a few seconds to start
      // on a loaded 2-core machine while the first burns. Finishing first, before the busy one, is the point: a blocked
      // server would answer it only after the 6 s (no wall-clock bound of our own, which a loaded machine would break).
      const busy = exchange(server.serverAddress, "6000\n").then((reply) => order.push(reply));
      await sleep(300);
      const quick = exchange(server.serverAddress, "0\n").then((reply) => order.push(reply));
      await within(30_000, quick);
      await within(30_000, busy);
      assert.deepEqual(order, ["burned 0\n", "burned 6000\n"], "the quick request finished first");
    });
  });

  test("at the cap, requests wait for a free slot (maxWorkers 1, maxRequestsPerWorker 1)", async () => {
    const server = new ThreadingTCPServer(["127.0.0.1", 0], Slow, { maxWorkers: 1, maxRequestsPerWorker: 1 });
    Object.assign(server, { pauseMs: 200 });
    await serving(server, async () => {
      const started = Date.now();
      const replies = await within(20_000, Promise.all([1, 2, 3].map(() => exchange(server.serverAddress, "go\n"))));
      assert.deepEqual(replies, ["late\n", "late\n", "late\n"]);
      assert.ok(Date.now() - started >= 3 * 200 - 20, "the three requests ran one after another");
      assert.equal(server.workersStarted, 1, "one worker served all three");
    });
  });
});

describe("threading: streams", () => {
  test("16 MiB both ways, byte for byte", async () => {
    await serving(new ThreadingTCPServer(["127.0.0.1", 0], ThreadEcho), async (server) => {
      const payload = new Uint8Array(16 * MiB);
      for (let i = 0; i < payload.length; i += 4096) payload[i] = (i / 4096) & 0xff;
      payload.fill(0x5a, 100, 5000);
      const received = await within(60_000, streamExchange(server.serverAddress, payload), "16 MiB echo");
      assert.equal(received.length, payload.length);
      assert.equal(sha256(received), sha256(payload));
    });
  });

  test("a handler writing to a client that does not read runs at the client's pace", async () => {
    const progress = new Int32Array(new SharedArrayBuffer(4));
    const server = new ThreadingTCPServer(["127.0.0.1", 0], Firehose);
    Object.assign(server, { progress, totalBytes: 64 * MiB });
    await serving(server, async () => {
      const socket = await connect(server.serverAddress);
      try {
        socket.pause();
        await waitFor(() => Atomics.load(progress, 0) > 0, 10_000, "the handler starts writing");
        await sleep(800);
        const writtenMiB = Atomics.load(progress, 0) / 1024;
        // Kernel socket buffers hold a few MiB on loopback; the rest must wait for the client.
        assert.ok(writtenMiB < 32, `the handler wrote ${writtenMiB} MiB to a client that read nothing`);
        const total = await within(60_000, drain(socket), "reading 64 MiB");
        assert.equal(total, 64 * MiB);
      } finally {
        socket.destroy();
      }
    });
  });

  test("a client flooding a handler that does not read is paused, then read in full after half-close", async () => {
    const server = new ThreadingTCPServer(["127.0.0.1", 0], LateCounter);
    Object.assign(server, { pauseMs: 1000 });
    await serving(server, async () => {
      const socket = await connect(server.serverAddress);
      try {
        const reply = collect(socket);
        socket.write(new Uint8Array(64 * MiB));
        socket.end();
        await sleep(700);
        const absorbedMiB = (64 * MiB - socket.writableLength) / MiB;
        assert.ok(absorbedMiB < 32, `the server took ${absorbedMiB} MiB that its handler did not read`);
        assert.equal(await within(60_000, reply, "the count"), `${64 * MiB}\n`);
      } finally {
        socket.destroy();
      }
    });
  });

  test("a client reset reaches the handler as an error", async () => {
    const outcome = new Int32Array(new SharedArrayBuffer(4));
    const server = new ThreadingTCPServer(["127.0.0.1", 0], InputWatcher);
    Object.assign(server, { outcome });
    recordErrors(server);
    await serving(server, async () => {
      const socket = await connect(server.serverAddress);
      await within(10_000, new Promise((resolve) => socket.once("data", resolve)), "the handler's greeting");
      socket.resetAndDestroy();
      await waitFor(() => Atomics.load(outcome, 0) !== 0, 10_000, "the handler sees the reset");
      assert.equal(Atomics.load(outcome, 0), 2, "an error, not a clean end of input");
    });
  });
});

describe("threading: handlers and the server view", () => {
  test("handlers see the server's address, settings and fields, frozen; no shared memory but SharedArrayBuffer", async () => {
    const server = new ThreadingTCPServer(["127.0.0.1", 0], Describe);
    Object.assign(server, { custom: { answer: 42 } });
    await serving(server, async () => {
      const seen = JSON.parse(await within(10_000, exchange(server.serverAddress, "?\n")));
      assert.deepEqual(seen.serverAddress, server.serverAddress);
      assert.equal(seen.transport, "tcp");
      assert.deepEqual(seen.custom, { answer: 42 });
      assert.deepEqual(seen.clientAddress, seen.remoteAddress);
      assert.equal(seen.frozen, true);
    });
  });

  test("a shared counter in a SharedArrayBuffer counts requests from every worker", async () => {
    const hits = new Int32Array(new SharedArrayBuffer(4));
    const server = new ThreadingTCPServer(["127.0.0.1", 0], Counter, { maxWorkers: 2 });
    Object.assign(server, { hits });
    await serving(server, async () => {
      const replies = await within(
        20_000,
        Promise.all(Array.from({ length: 10 }, () => exchange(server.serverAddress, "+\n"))),
      );
      assert.deepEqual(replies.map(Number).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.equal(Atomics.load(hits, 0), 10);
    });
  });
});

describe("threading: errors and faults", () => {
  test("an error thrown in a worker reaches handleError with its class, message and stack; the server goes on", async () => {
    const server = new ThreadingTCPServer(["127.0.0.1", 0], Thrower);
    const reported = recordErrors(server);
    await serving(server, async () => {
      assert.equal(await within(10_000, exchange(server.serverAddress, "x\n")), "");
      await waitFor(() => reported.length === 1, 5000, "handleError");
      const { error, clientAddress } = reported[0];
      assert.ok(error instanceof RangeError, `a RangeError, got ${error}`);
      assert.equal(error.message, "thrown on purpose in a worker");
      assert.match(String(error.stack), /threading_handlers/);
      assert.ok(Array.isArray(clientAddress));
      server.RequestHandlerClass = ThreadEcho;
      assert.equal(await within(10_000, exchange(server.serverAddress, HELLO)), HELLO);
    });
  });

  test("a datagram handler's error reaches handleError", async () => {
    const server = new ThreadingUDPServer(["127.0.0.1", 0], DatagramThrower);
    const reported = recordErrors(server);
    await serving(server, async () => {
      assert.equal(await udpExchange(server.serverAddress, "x", 300), null);
      await waitFor(() => reported.length === 1, 10_000, "handleError");
      assert.ok(reported[0].error instanceof TypeError);
      assert.equal((reported[0].error as Error).message, "datagram handler failed on purpose");
    });
  });

  test(
    "a worker that ends itself (close()) mid-request closes the request, is reported, and is replaced",
    { skip: RUNTIME !== "deno" }, // only Deno's workers have a global close()
    async () => {
      const server = new ThreadingTCPServer(["127.0.0.1", 0], Closer, { maxWorkers: 1 });
      const reported = recordErrors(server);
      await serving(server, async () => {
        assert.equal(await within(15_000, exchange(server.serverAddress, "x\n")), "");
        await waitFor(() => reported.length === 1, 10_000, "handleError");
        const error = reported[0].error as WorkerExitedError;
        assert.ok(error instanceof WorkerExitedError, `a WorkerExitedError, got ${error}`);
        assert.match(error.message, /exit/);
        await waitFor(() => server.workerCount === 0, 5000, "the dead worker is dropped");
        server.RequestHandlerClass = ThreadEcho;
        assert.equal(await within(15_000, exchange(server.serverAddress, HELLO)), HELLO);
        assert.equal(server.workersStarted, 2, "a new worker replaced the dead one");
      });
    },
  );

  test("a missing handler module fails the request with a HandlerLoadError naming module and export", async () => {
    const server = new ThreadingTCPServer(["127.0.0.1", 0], NowhereHandler);
    const reported = recordErrors(server);
    await serving(server, async () => {
      assert.equal(await within(15_000, exchange(server.serverAddress, "x\n")), "");
      await waitFor(() => reported.length === 1, 10_000, "handleError");
      const error = reported[0].error as Error;
      assert.ok(error instanceof HandlerLoadError, `a HandlerLoadError, got ${error}`);
      assert.match(error.message, /no_such_module_for_threading/);
      assert.match(error.message, /NowhereHandler/);
      server.RequestHandlerClass = ThreadEcho;
      assert.equal(await within(15_000, exchange(server.serverAddress, HELLO)), HELLO);
    });
  });

  test("a module without the export fails the request with a HandlerLoadError listing what it exports", async () => {
    const server = new ThreadingTCPServer(["127.0.0.1", 0], UnexportedHandler);
    const reported = recordErrors(server);
    await serving(server, async () => {
      await within(15_000, exchange(server.serverAddress, "x\n"));
      await waitFor(() => reported.length === 1, 10_000, "handleError");
      const error = reported[0].error as Error;
      assert.ok(error instanceof HandlerLoadError);
      assert.match(error.message, /NoSuchExport/);
      assert.match(error.message, /ThreadEcho/);
    });
  });

  test("a handler without moduleUrl is refused before binding, saying what to add", async () => {
    const server = new ThreadingTCPServer(["127.0.0.1", 0], UnlocatedHandler);
    await assert.rejects(server.listen(), (error: Error) => {
      assert.ok(error instanceof HandlerLoadError);
      assert.match(error.message, /static override moduleUrl = import\.meta\.url/);
      return true;
    });
    assert.equal(server.closed, true);
  });
});

describe("threading: any BaseServer", () => {
  /** A server whose requests are numbers, handed out by getRequest(); the last one ends serveForever(). */
  class NumberServer extends ThreadingMixIn(BaseServer) {
    sum: Int32Array = new Int32Array(new SharedArrayBuffer(4));
    #next = 1;
    values: unknown[] = [1, 2, 3, 4, 5];
    override getRequest(): Promise<RequestEntry<unknown, unknown> | null> {
      const value = this.values.shift();
      return Promise.resolve(value === undefined ? null : [value, `request ${this.#next++}`]);
    }
  }

  test("requests of a custom server are structured-cloned to the workers", async () => {
    const server = new NumberServer(null, Summer);
    await within(20_000, server.serveForever());
    await within(20_000, server.serverClose());
    assert.equal(Atomics.load(server.sum, 0), 15);
    assert.equal(server.workerCount, 0);
  });

  test("a request that cannot be cloned fails with handleError and the server goes on", async () => {
    const server = new NumberServer(null, Summer);
    server.values = [1, { notCloneable: () => {} }, 2];
    const reported = recordErrors(server);
    await within(20_000, server.serveForever());
    await within(20_000, server.serverClose());
    assert.equal(Atomics.load(server.sum, 0), 3);
    assert.equal(reported.length, 1);
    assert.match(String(reported[0].error), /clone/i);
  });
});

describe("threading: closing", () => {
  test("serverClose() waits for requests in flight (blockOnClose), then no worker is left", async () => {
    const server = new ThreadingTCPServer(["127.0.0.1", 0], Slow);
    Object.assign(server, { pauseMs: 400 });
    await server.listen();
    const loop = server.serveForever();
    const client = await LineClient.open(server.serverAddress);
    try {
      client.send("go\n");
      await waitFor(() => server.activeRequests === 1, 10_000, "the request starts");
      const started = Date.now();
      const reply = client.readLine(10_000);
      await within(10_000, server.serverClose());
      assert.ok(Date.now() - started >= 250, "serverClose() waited for the handler");
      assert.equal(await reply, "late\n");
      assert.equal(server.activeRequests, 0);
      assert.equal(server.workerCount, 0, "every worker ended");
      await within(10_000, loop);
    } finally {
      client.destroy();
    }
  });

  test("with blockOnClose false (daemon threads), serverClose() returns at once; the request still finishes", async () => {
    const server = new ThreadingTCPServer(["127.0.0.1", 0], Slow, { blockOnClose: false });
    // Far apart, so that a loaded machine cannot blur "returns at once" and "waits for the request".
    Object.assign(server, { pauseMs: 2000 });
    await server.listen();
    const loop = server.serveForever();
    const client = await LineClient.open(server.serverAddress);
    try {
      client.send("go\n");
      await waitFor(() => server.activeRequests === 1, 10_000, "the request starts");
      const started = Date.now();
      await within(10_000, server.serverClose());
      assert.ok(Date.now() - started < 1500, "serverClose() did not wait");
      assert.equal(await client.readLine(10_000), "late\n");
      await waitFor(() => server.workerCount === 0, 10_000, "the worker ends after its request");
      await within(10_000, loop);
    } finally {
      client.destroy();
    }
  });

  test("after serverClose() the worker threads are really gone (a timer left ticking in one stops)", async () => {
    const ticks = new Int32Array(new SharedArrayBuffer(4));
    const server = new ThreadingTCPServer(["127.0.0.1", 0], Ticker);
    Object.assign(server, { ticks });
    await serving(server, async () => {
      assert.equal(await within(10_000, exchange(server.serverAddress, "go\n")), "ticking\n");
      await waitFor(() => Atomics.load(ticks, 0) > 2, 10_000, "the worker's timer ticks");
    });
    assert.equal(server.workerCount, 0);
    await sleep(50);
    const stopped = Atomics.load(ticks, 0);
    await sleep(300);
    assert.equal(Atomics.load(ticks, 0), stopped, "no tick after serverClose()");
  });

  test("with drainTimeout, serverClose() stops a worker stuck in a handler and reports the request", async () => {
    const server = new ThreadingTCPServer(["127.0.0.1", 0], Burner, { drainTimeout: 300 });
    const reported = recordErrors(server);
    await server.listen();
    const loop = server.serveForever();
    const client = await LineClient.open(server.serverAddress);
    try {
      client.send("60000\n");
      await waitFor(() => server.activeRequests === 1, 10_000, "the request starts");
      await sleep(200);
      const started = Date.now();
      await within(10_000, server.serverClose());
      assert.ok(Date.now() - started < 5000, "serverClose() did not wait for the 60 s handler");
      assert.equal(server.workerCount, 0);
      await waitFor(() => reported.length === 1, 5000, "the stopped request is reported");
      assert.ok(reported[0].error instanceof WorkerExitedError);
      await within(10_000, loop);
    } finally {
      client.destroy();
    }
  });

  test("serverClose() on a threading server that never served", async () => {
    const server = await new ThreadingTCPServer(["127.0.0.1", 0], ThreadEcho).listen();
    await within(5000, server.serverClose());
    assert.equal(server.workerCount, 0);
  });

  test("many requests leave nothing behind: workers reused, no request tracked", async () => {
    await serving(new ThreadingTCPServer(["127.0.0.1", 0], ThreadEcho, { maxWorkers: 2 }), async (server) => {
      for (let round = 0; round < 10; round++) {
        const replies = await within(
          20_000,
          Promise.all(Array.from({ length: 20 }, (_, i) => exchange(server.serverAddress, `${round}.${i}\n`))),
        );
        assert.deepEqual(replies, Array.from({ length: 20 }, (_, i) => `${round}.${i}\n`));
      }
      await waitFor(() => server.activeRequests === 0, 5000, "every request finished");
      assert.ok(server.workersStarted <= 2, `200 requests started ${server.workersStarted} workers`);
    });
  });

  test("idle workers end after workerIdleTimeout, and a new one serves the next request", async () => {
    await serving(new ThreadingTCPServer(["127.0.0.1", 0], ThreadEcho, { workerIdleTimeout: 100 }), async (server) => {
      assert.equal(await within(10_000, exchange(server.serverAddress, HELLO)), HELLO);
      await waitFor(() => server.workerCount === 0, 10_000, "the idle worker ends");
      assert.equal(await within(10_000, exchange(server.serverAddress, HELLO)), HELLO);
      assert.equal(server.workersStarted, 2);
    });
  });
});

// ---- clients ----

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Sends `payload` while reading the reply, half-closes, and returns every byte received until the server closed. */
async function streamExchange(address: SocketAddress, payload: Uint8Array): Promise<Uint8Array> {
  const socket = await connect(address);
  try {
    const reply = collectBytes(socket);
    socket.end(payload);
    return await reply;
  } finally {
    socket.destroy();
  }
}

function collectBytes(socket: net.Socket): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    socket.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    socket.once("end", () => resolve(Buffer.concat(chunks)));
    socket.once("error", reject);
  });
}

function collect(socket: net.Socket): Promise<string> {
  return collectBytes(socket).then((bytes) => Buffer.from(bytes).toString("utf8"));
}

/** Resumes a paused socket and counts bytes until the server closes. */
function drain(socket: net.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let total = 0;
    socket.on("data", (chunk: Uint8Array) => (total += chunk.length));
    socket.once("end", () => resolve(total));
    socket.once("error", reject);
    socket.resume();
  });
}
