// Starting, stopping and closing servers: shutdown() from a handler, handleRequest() and timeouts, AbortSignal,
// `await using`, serverClose() and draining, the concurrency cap, options, and servers with no socket at all.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, test } from "node:test";
import {
  AsyncMixIn,
  AsyncTCPServer,
  AsyncUDPServer,
  BaseRequestHandler,
  BaseServer,
  type RequestEntry,
  ServerStateError,
  TCPServer,
  UDPServer,
} from "../mod.ts";
import {
  type AnyServer,
  assertNoReply,
  closedByServer,
  connect,
  connectOutcome,
  countingEcho,
  Gate,
  recordErrors,
  type ServerKind,
  serving,
  sleep,
  SUPPORTED_KINDS,
  text,
  waitFor,
  within,
} from "./_helpers.ts";

/** A handler that echoes the request; a request "stop" first awaits `server.shutdown()` from inside the handler. */
function stoppingEcho(kind: ServerKind) {
  return kind.handler({
    async handle(handler) {
      const data = await handler.rfile.read();
      if (text(data) === "stop") {
        await within(5000, (handler.server as AnyServer).shutdown(), "shutdown() in a handler");
      }
      await handler.wfile.write(data);
    },
  });
}

/** A handler that echoes once `gate` opens, counting handlers running at once. */
function gatedEcho(kind: ServerKind, gate: Gate) {
  return countingEcho(kind, () => gate.promise);
}

/** Counts handleTimeout() calls on `server`. */
function countTimeouts(server: AnyServer): { count: number } {
  const counter = { count: 0 };
  server.handleTimeout = () => {
    counter.count++;
  };
  return counter;
}

for (const kind of SUPPORTED_KINDS) {
  describe(`${kind.name} lifecycle`, () => {
    test("shutdown() awaited inside a handler returns, serveForever() returns, and serveForever() can run again", async () => {
      const server = kind.create(stoppingEcho(kind));
      const errors = recordErrors(server);
      await server.listen();
      try {
        const first = server.serveForever();
        assert.equal(await kind.request(server.serverAddress, "stop"), "stop");
        await within(5000, first, "serveForever() after shutdown() from a handler");
        assert.equal(server.serving, false);

        const second = server.serveForever();
        assert.equal(server.serving, true);
        assert.equal(await kind.request(server.serverAddress, "again"), "again");
        await within(5000, server.shutdown());
        await within(5000, second);
      } finally {
        await within(5000, server.serverClose());
      }
      assert.deepEqual(errors, []);
    });

    test("serveForever() while already serving rejects with ServerStateError", async () => {
      await serving(kind.create(stoppingEcho(kind)), async (server) => {
        await assert.rejects(server.serveForever(), ServerStateError);
        assert.equal(await kind.request(server.serverAddress, "still"), "still");
      });
    });

    test("handleRequest() with a timeout and no client calls handleTimeout() once and returns", async () => {
      const server = kind.create(stoppingEcho(kind), { timeout: 50 });
      const timeouts = countTimeouts(server);
      await server.listen();
      try {
        const started = Date.now();
        await within(5000, server.handleRequest());
        assert.ok(Date.now() - started >= 40, `returned after ${Date.now() - started} ms`);
        assert.equal(timeouts.count, 1);
      } finally {
        await within(5000, server.serverClose());
      }
    });

    test("handleRequest() with a timeout and a client handles the request, and no timeout is reported", async () => {
      const server = kind.create(stoppingEcho(kind), { timeout: 5000 });
      const timeouts = countTimeouts(server);
      await server.listen();
      try {
        const reply = kind.request(server.serverAddress, "served");
        await within(5000, server.handleRequest());
        assert.equal(await reply, "served");
        assert.equal(timeouts.count, 0);
      } finally {
        await within(5000, server.serverClose());
      }
    });

    test("a request arriving after a timeout is not lost: the next handleRequest() serves it", async () => {
      const server = kind.create(stoppingEcho(kind), { timeout: 30 });
      const timeouts = countTimeouts(server);
      await server.listen();
      try {
        await within(5000, server.handleRequest());
        assert.equal(timeouts.count, 1);
        const reply = kind.request(server.serverAddress, "late");
        await sleep(20);
        server.timeout = 5000;
        await within(5000, server.handleRequest());
        assert.equal(await reply, "late");
        assert.equal(timeouts.count, 1);
      } finally {
        await within(5000, server.serverClose());
      }
    });

    test("two handleRequest() calls at once take turns: each serves a request of its own", async () => {
      const server = kind.create(stoppingEcho(kind));
      const errors = recordErrors(server);
      await server.listen();
      try {
        const first = server.handleRequest();
        const second = server.handleRequest();
        const replies = [kind.request(server.serverAddress, "one")];
        await sleep(50);
        replies.push(kind.request(server.serverAddress, "two"));
        await within(5000, Promise.all([first, second]), "both handleRequest() calls");
        assert.deepEqual(await Promise.all(replies), ["one", "two"]);
      } finally {
        await within(5000, server.serverClose());
      }
      assert.deepEqual(errors, []);
    });

    test("two handleRequest() calls with a timeout: the second's counts from its call, and no request is lost", async () => {
      const server = kind.create(stoppingEcho(kind), { timeout: 100 });
      const timeouts = countTimeouts(server);
      const errors = recordErrors(server);
      await server.listen();
      try {
        await within(5000, Promise.all([server.handleRequest(), server.handleRequest()]));
        assert.equal(timeouts.count, 2);
        server.timeout = 5000;
        const reply = kind.request(server.serverAddress, "after");
        await within(5000, server.handleRequest());
        assert.equal(await reply, "after");
      } finally {
        await within(5000, server.serverClose());
      }
      assert.deepEqual(errors, []);
    });

    test("handleRequest() while serveForever() runs rejects with ServerStateError and takes no request", async () => {
      await serving(kind.create(stoppingEcho(kind)), async (server) => {
        const errors = recordErrors(server);
        await assert.rejects(server.handleRequest(), ServerStateError);
        assert.equal(await kind.request(server.serverAddress, "still"), "still");
        assert.equal(await kind.request(server.serverAddress, "again"), "again");
        assert.deepEqual(errors, []);
      });
    });

    test("serveForever() called while a handleRequest() waits: the request waited for is served once", async () => {
      const server = kind.create(stoppingEcho(kind));
      const errors = recordErrors(server);
      await server.listen();
      try {
        const one = server.handleRequest();
        const loop = server.serveForever();
        assert.equal(await kind.request(server.serverAddress, "first"), "first");
        await within(5000, one, "the handleRequest() call");
        assert.equal(await kind.request(server.serverAddress, "second"), "second");
        await within(5000, server.shutdown());
        await within(5000, loop);
      } finally {
        await within(5000, server.serverClose());
      }
      assert.deepEqual(errors, []);
    });

    test("aborting the AbortSignal option stops serveForever(); an aborted signal stops it at once", async () => {
      const controller = new AbortController();
      const server = kind.create(stoppingEcho(kind), { signal: controller.signal });
      await server.listen();
      try {
        const loop = server.serveForever();
        assert.equal(await kind.request(server.serverAddress, "before"), "before");
        controller.abort();
        await within(5000, loop, "serveForever() after abort");
        assert.equal(server.serving, false);
        await within(5000, server.serveForever(), "serveForever() with an aborted signal");
      } finally {
        await within(5000, server.serverClose());
      }
    });

    test("`await using` closes the server at the end of the block", async () => {
      let address: unknown;
      {
        await using server = await kind.create(stoppingEcho(kind)).listen();
        address = server.serverAddress;
        if (kind.stream) assert.equal(await connectOutcome(server.serverAddress), "connected");
      }
      if (kind.transport === "tcp") assert.equal(await connectOutcome(address as [string, number]), "ECONNREFUSED");
      if (kind.transport === "unix" || kind.transport === "unixgram") {
        assert.equal(existsSync(address as string), false, "the socket file is removed");
      }
      if (kind.transport === "udp") {
        // The port is free again: a new server can bind it.
        const again = new UDPServer(address as [string, number], stoppingEcho(kind));
        await within(5000, again.listen());
        await again.serverClose();
      }
    });

    test("serverClose() is idempotent: every call returns the same promise; the closed server refuses to serve", async () => {
      const server = await kind.create(stoppingEcho(kind)).listen();
      const first = server.serverClose();
      const second = server.serverClose();
      assert.equal(first, second);
      await within(5000, first);
      assert.equal(server.closed, true);
      await within(5000, server.serverClose());
      await assert.rejects(server.serveForever(), ServerStateError);
      await assert.rejects(server.listen(), ServerStateError);
    });

    test("serverClose() waits for a request in flight (blockOnClose, the default), which completes", async () => {
      const gate = new Gate();
      const { Handler, state } = gatedEcho(kind, gate);
      const server = await kind.create(Handler).listen();
      const errors = recordErrors(server);
      const loop = server.serveForever();
      const reply = kind.request(server.serverAddress, "in flight", 8000);
      try {
        await within(5000, waitFor(() => state.started === 1));
        let closed = false;
        const closing = server.serverClose().then(() => (closed = true));
        await sleep(50);
        assert.equal(closed, false, "serverClose() returned while a request was in flight");
        assert.equal(server.activeRequests, 1);
        gate.open();
        await within(5000, closing);
        assert.equal(state.finished, 1);
        assert.equal(server.activeRequests, 0);
        assert.equal(await reply, "in flight");
      } finally {
        gate.open();
        await within(5000, server.serverClose());
        await within(5000, loop);
      }
      assert.deepEqual(errors, []);
    });

    test("serverClose() does not wait for a request in flight when blockOnClose is false", async () => {
      const gate = new Gate();
      const { Handler, state } = gatedEcho(kind, gate);
      const server = await kind.create(Handler, { blockOnClose: false }).listen();
      recordErrors(server);
      const loop = server.serveForever();
      const reply = kind.request(server.serverAddress, "left running", 100);
      try {
        await within(5000, waitFor(() => state.started === 1));
        await within(5000, server.serverClose(), "serverClose() with blockOnClose false");
        assert.equal(state.finished, 0);
        assert.equal(server.activeRequests, 1);
      } finally {
        gate.open();
        await within(5000, loop);
        await within(5000, waitFor(() => server.activeRequests === 0));
        await reply.catch(() => {});
      }
    });
  });
}

for (const kind of SUPPORTED_KINDS.filter((k) => k.stream)) {
  describe(`${kind.name} drainTimeout`, () => {
    test("serverClose() aborts a request still running after drainTimeout and returns in bounded time", async () => {
      let handlerDone = false;
      const Handler = kind.handler({
        async handle(handler) {
          try {
            await handler.rfile.read(); // the client never sends nor closes
          } finally {
            handlerDone = true;
          }
        },
      });
      const server = await kind.create(Handler, { drainTimeout: 100 }).listen();
      recordErrors(server);
      const loop = server.serveForever();
      const client = await connect(server.serverAddress);
      try {
        const seen = closedByServer(client);
        await within(5000, waitFor(() => server.activeRequests === 1));
        const started = Date.now();
        await within(5000, server.serverClose(), "serverClose() with drainTimeout");
        assert.ok(Date.now() - started >= 90, `returned after ${Date.now() - started} ms, before drainTimeout`);
        assert.match(await within(5000, seen), /^(ECONNRESET|end|close)$/);
        await within(5000, waitFor(() => handlerDone), "the aborted handler to end");
        await within(5000, loop);
      } finally {
        client.destroy();
      }
    });
  });
}

for (const kind of SUPPORTED_KINDS.filter((k) => !k.stream)) {
  describe(`${kind.name} drainTimeout`, () => {
    test("serverClose() returns after drainTimeout even when a handler never ends", async () => {
      const gate = new Gate();
      const { Handler, state } = gatedEcho(kind, gate);
      const server = await kind.create(Handler, { drainTimeout: 100 }).listen();
      recordErrors(server);
      const loop = server.serveForever();
      const reply = kind.request(server.serverAddress, "stuck", 100);
      try {
        await within(5000, waitFor(() => state.started === 1));
        await within(5000, server.serverClose(), "serverClose() with drainTimeout");
        assert.equal(state.finished, 0);
      } finally {
        gate.open();
        await within(5000, loop);
        await reply.catch(() => {});
        await within(5000, waitFor(() => server.activeRequests === 0));
      }
    });
  });
}

for (const kind of SUPPORTED_KINDS.filter((k) => k.async)) {
  describe(`${kind.name} maxConcurrentRequests`, () => {
    test("with a cap of 2 and 3 slow clients, at most 2 handlers run at once and the third is served after", async () => {
      const gate = new Gate();
      const { Handler, state } = gatedEcho(kind, gate);
      await serving(kind.create(Handler, { maxConcurrentRequests: 2 }), async (server) => {
        const replies = ["one", "two", "three"].map((payload) => kind.request(server.serverAddress, payload, 8000));
        await within(5000, waitFor(() => state.started === 2));
        await sleep(100);
        assert.equal(state.started, 2, "a third handler started beyond the cap");
        gate.open();
        assert.deepEqual(await within(8000, Promise.all(replies)), ["one", "two", "three"]);
        assert.equal(state.maxRunning, 2);
        assert.equal(state.finished, 3);
      });
    });

    test("without a cap, 3 slow clients are served at once", async () => {
      const gate = new Gate();
      const { Handler, state } = gatedEcho(kind, gate);
      await serving(kind.create(Handler), async (server) => {
        const replies = ["one", "two", "three"].map((payload) => kind.request(server.serverAddress, payload, 8000));
        await within(5000, waitFor(() => state.running === 3));
        gate.open();
        assert.deepEqual(await within(8000, Promise.all(replies)), ["one", "two", "three"]);
      });
    });

    test("a cap that is not a positive integer fails at construction; set while serving, it reaches handleError", async () => {
      const gate = new Gate();
      gate.open();
      const { Handler } = gatedEcho(kind, gate);
      assert.throws(() => kind.create(Handler, { maxConcurrentRequests: 0 }), {
        name: "RangeError",
        message: /^maxConcurrentRequests must be null or Infinity or an integer 1 or more, got 0$/,
      });
      const server = kind.create(Handler);
      const errors = recordErrors(server);
      await serving(server, async () => {
        (server as AnyServer & { maxConcurrentRequests: number }).maxConcurrentRequests = 0;
        await assertNoReply(kind, server.serverAddress, "refused");
        await within(5000, waitFor(() => errors.length === 1));
      });
      assert.ok(errors[0].error instanceof RangeError);
      assert.match(String(errors[0].error), /maxConcurrentRequests must be a positive integer/);
    });
  });
}

describe("options as class fields, getters and constructor options", () => {
  const kind = SUPPORTED_KINDS[0];
  const Handler = stoppingEcho(kind);

  async function timesOut(server: AnyServer): Promise<boolean> {
    const timeouts = countTimeouts(server);
    await server.listen();
    try {
      await within(3000, server.handleRequest(), "handleRequest()");
    } finally {
      await server.serverClose();
    }
    return timeouts.count === 1;
  }

  test("a class field is honoured", async () => {
    class FieldServer extends TCPServer {
      override timeout: number | null = 20;
    }
    assert.equal(await timesOut(new FieldServer(["127.0.0.1", 0], Handler)), true);
  });

  test("an overridden getter is honoured", async () => {
    class GetterServer extends TCPServer {
      override get timeout(): number | null {
        return 20;
      }
    }
    assert.equal(await timesOut(new GetterServer(["127.0.0.1", 0], Handler)), true);
  });

  test("a constructor option wins over a class field and over a getter", async () => {
    class FieldServer extends TCPServer {
      override timeout: number | null = 60_000;
    }
    class GetterServer extends TCPServer {
      override get timeout(): number | null {
        return 60_000;
      }
    }
    assert.equal(await timesOut(new FieldServer(["127.0.0.1", 0], Handler, { timeout: 20 })), true);
    assert.equal(await timesOut(new GetterServer(["127.0.0.1", 0], Handler, { timeout: 20 })), true);
    const field = new FieldServer(["127.0.0.1", 0], Handler, { timeout: 20 });
    field.applyOptions();
    assert.equal(field.timeout, 20);
  });

  test("maxPacketSize as a field, a getter and an option decides which datagrams are too large", async () => {
    class Small extends UDPServer {
      override maxPacketSize = 10;
    }
    class SmallGetter extends AsyncUDPServer {
      override get maxPacketSize(): number {
        return 10;
      }
    }
    const udp = SUPPORTED_KINDS.find((k) => k.transport === "udp")!;
    const Echo = stoppingEcho(udp);
    const cases: Array<[AnyServer, string | null]> = [
      [new Small(["127.0.0.1", 0], Echo), null],
      [new SmallGetter(["127.0.0.1", 0], Echo), null],
      [new Small(["127.0.0.1", 0], Echo, { maxPacketSize: 100 }), "twenty bytes payload"],
    ];
    for (const [server, expected] of cases) {
      const errors = recordErrors(server);
      await serving(server, async () => {
        assert.equal(
          await udp.request(server.serverAddress, "twenty bytes payload", expected === null ? 150 : 3000),
          expected,
        );
      });
      assert.equal(errors.length, expected === null ? 1 : 0);
    }
  });

  test("maxConcurrentRequests as a class field is honoured", async () => {
    class Capped extends AsyncTCPServer {
      override maxConcurrentRequests: number | null = 1;
    }
    const gate = new Gate();
    const { Handler: Gated, state } = gatedEcho(kind, gate);
    await serving(new Capped(["127.0.0.1", 0], Gated), async (server) => {
      const replies = ["a", "b"].map((payload) => kind.request(server.serverAddress, payload, 8000));
      await within(5000, waitFor(() => state.started === 1));
      await sleep(100);
      assert.equal(state.started, 1);
      gate.open();
      assert.deepEqual(await within(8000, Promise.all(replies)), ["a", "b"]);
      assert.equal(state.maxRunning, 1);
    });
  });
});

// ---- servers with no socket: requests from anywhere ----

interface Row {
  readonly id: number;
  readonly name: string;
}

/** A server whose requests are the rows of an in-memory table; `null` once the table is empty. */
class TableServer extends BaseServer<Row, number> {
  readonly table: Row[];
  readonly processed: string[] = [];
  constructor(rows: Row[]) {
    super(null, RowHandler);
    this.table = [...rows];
  }
  override async getRequest(): Promise<RequestEntry<Row, number> | null> {
    await sleep(1);
    const row = this.table.shift();
    return row === undefined ? null : [row, row.id];
  }
}

class RowHandler extends BaseRequestHandler<Row, number, TableServer> {
  override async handle(): Promise<void> {
    await sleep(this.request.id % 2 === 0 ? 10 : 1);
    this.server.processed.push(`${this.clientAddress}:${this.request.name.toUpperCase()}`);
  }
}

const AsyncTableServer = AsyncMixIn(TableServer);

const ROWS: Row[] = [{ id: 1, name: "ada" }, { id: 2, name: "bob" }, { id: 3, name: "cy" }, { id: 4, name: "di" }];
const PROCESSED = ["1:ADA", "2:BOB", "3:CY", "4:DI"];

describe("BaseServer with requests from an in-memory table", () => {
  test("serves every row in order, synchronously; serveForever() returns when getRequest() gives null", async () => {
    const server = new TableServer(ROWS);
    await within(5000, server.serveForever());
    assert.deepEqual(server.processed, PROCESSED);
    await server.serverClose();
  });

  test("with AsyncMixIn serves rows concurrently; serverClose() waits for the last ones", async () => {
    const server = new AsyncTableServer(ROWS);
    await within(5000, server.serveForever());
    await within(5000, server.serverClose());
    assert.deepEqual([...server.processed].sort(), PROCESSED);
  });

  test("handleRequest() serves one row at a time", async () => {
    const server = new TableServer(ROWS);
    await server.handleRequest();
    await server.handleRequest();
    assert.deepEqual(server.processed, PROCESSED.slice(0, 2));
    await server.serverClose();
  });

  test("an error from getRequest() goes to handleError(null, null, error) and serving goes on", async () => {
    const failure = new Error("the table is locked");
    class Flaky extends TableServer {
      failures = 1;
      override getRequest(): Promise<RequestEntry<Row, number> | null> {
        if (this.failures-- > 0) return Promise.reject(failure);
        return super.getRequest();
      }
    }
    const server = new Flaky(ROWS);
    const errors = recordErrors(server);
    await within(5000, server.serveForever());
    assert.deepEqual(server.processed, PROCESSED);
    assert.deepEqual(errors, [{ request: null, clientAddress: null, error: failure }]);
    await server.serverClose();
  });

  test("a BaseServer that does not override getRequest() fails with ServerStateError", async () => {
    const server = new BaseServer(null, RowHandler);
    await assert.rejects(within(5000, server.serveForever()), ServerStateError);
    await server.serverClose();
  });
});
