// Handler errors reach handleError() with the request, the client's address and the error; the server goes on.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type AnyHandler,
  type AnyHandlerClass,
  assertNoReply,
  capturingConsoleError,
  recordErrors,
  type ReportedError,
  type ServerKind,
  serving,
  SUPPORTED_KINDS,
  waitFor,
  within,
} from "./_helpers.ts";

/** What one request's handler did, as the tests observe it. */
interface Seen {
  request: unknown;
  clientAddress: unknown;
  events: string[];
  payload: string;
}

/**
 * A handler that fails, in the way `fail` says, for the first request only; later requests are echoed. Its setup()
 * reads the whole request first (unless `fail.setup` replaces it), so that the client's payload is never left unsent
 * when the server closes. Returns what each request's handler saw.
 */
function failingFirst(
  kind: ServerKind,
  fail: {
    setup?: (handler: AnyHandler) => unknown;
    handle?: (handler: AnyHandler) => unknown;
    finish?: (handler: AnyHandler) => unknown;
  },
) {
  const seen: Seen[] = [];
  const mine = (handler: AnyHandler) => seen.find((entry) => entry.request === handler.request)!;
  const Handler = kind.handler({
    setup(handler) {
      seen.push({ request: handler.request, clientAddress: handler.clientAddress, events: ["setup"], payload: "" });
      if (seen.length === 1 && fail.setup) return fail.setup(handler);
      return handler.rfile.read().then((data) => (mine(handler).payload = new TextDecoder().decode(data)));
    },
    handle(handler) {
      const entry = mine(handler);
      entry.events.push("handle");
      if (entry === seen[0] && fail.handle) return fail.handle(handler);
      return handler.wfile.write(entry.payload);
    },
    finish(handler) {
      const entry = mine(handler);
      entry.events.push("finish");
      if (entry === seen[0] && fail.finish) return fail.finish(handler);
    },
  });
  return { Handler, seen };
}

/** Checks the address a client of this kind has, as the server sees it. */
function assertClientAddress(kind: ServerKind, address: unknown): void {
  if (kind.transport === "tcp" || kind.transport === "udp") {
    assert.ok(Array.isArray(address), `client address ${address}`);
    assert.equal(address[0], "127.0.0.1");
    assert.ok(Number.isInteger(address[1]) && address[1] > 0);
  } else if (kind.transport === "unix") {
    assert.equal(address, "", "an unnamed unix stream client");
  } else {
    assert.match(String(address), /ss-.*-client-\d+\.sock$/, "the unix datagram client's own path");
  }
}

/**
 * Serves two clients with `Handler`: the first must get `firstReply` (`null`: no reply at all), the second its echo.
 * Returns what handleError() received meanwhile.
 */
async function firstThenSecond(
  kind: ServerKind,
  Handler: AnyHandlerClass,
  firstReply: string | null,
): Promise<ReportedError[]> {
  const server = kind.create(Handler);
  const reported = recordErrors(server);
  await serving(server, async () => {
    if (firstReply === null) await assertNoReply(kind, server.serverAddress, "first");
    else assert.equal(await kind.request(server.serverAddress, "first"), firstReply);
    assert.equal(await kind.request(server.serverAddress, "second"), "second");
  });
  return reported;
}

/** handleError() heard once: `error`, with the first request and its client's address. */
function assertReportedFirst(kind: ServerKind, reported: ReportedError[], seen: Seen[], error: unknown): void {
  assert.equal(reported.length, 1);
  assert.equal(reported[0].error, error);
  assert.equal(reported[0].request, seen[0].request);
  assert.deepEqual(reported[0].clientAddress, seen[0].clientAddress);
  assertClientAddress(kind, reported[0].clientAddress);
}

for (const kind of SUPPORTED_KINDS) {
  describe(`${kind.name} handler errors`, () => {
    test("a synchronous throw in handle() reaches handleError(request, clientAddress, error), finish() still runs, and the next client is served", async () => {
      const boom = new Error("sync boom");
      const { Handler, seen } = failingFirst(kind, {
        handle(handler) {
          void handler.wfile.write("partial\n");
          throw boom;
        },
      });
      // finish() runs: the stream client got what was written; the datagram reply is sent by finish().
      const reported = await firstThenSecond(kind, Handler, "partial\n");
      assertReportedFirst(kind, reported, seen, boom);
      assert.deepEqual(seen.map((entry) => entry.events), [["setup", "handle", "finish"], [
        "setup",
        "handle",
        "finish",
      ]]);
    });

    test("a rejection from an async handle() reaches handleError with that error, finish() still runs, and the next client is served", async () => {
      const boom = new TypeError("async boom");
      const { Handler, seen } = failingFirst(kind, {
        async handle(handler) {
          await handler.wfile.write("partial\n");
          await new Promise((resolve) => setTimeout(resolve, 5));
          throw boom;
        },
      });
      const reported = await firstThenSecond(kind, Handler, "partial\n");
      assertReportedFirst(kind, reported, seen, boom);
      assert.deepEqual(seen[0].events, ["setup", "handle", "finish"]);
    });

    test("a throw in setup() reaches handleError; neither handle() nor finish() runs; the next client is served", async () => {
      const boom = new RangeError("setup boom");
      const { Handler, seen } = failingFirst(kind, {
        setup() {
          throw boom;
        },
      });
      const reported = await firstThenSecond(kind, Handler, null);
      assertReportedFirst(kind, reported, seen, boom);
      assert.deepEqual(seen.map((entry) => entry.events), [["setup"], ["setup", "handle", "finish"]]);
    });

    test("a throw in finish() reaches handleError after the reply went out, and the next client is served", async () => {
      const boom = new RangeError("finish boom");
      const { Handler, seen } = failingFirst(kind, {
        finish() {
          throw boom;
        },
      });
      const reported = await firstThenSecond(kind, Handler, "first");
      assertReportedFirst(kind, reported, seen, boom);
      assert.deepEqual(seen.map((entry) => entry.events), [["setup", "handle", "finish"], [
        "setup",
        "handle",
        "finish",
      ]]);
    });

    test("when handle() and finish() both fail, finish()'s error is the one reported, as with finally", async () => {
      const handleBoom = new Error("handle boom");
      const finishBoom = new Error("finish boom");
      const { Handler, seen } = failingFirst(kind, {
        async handle() {
          await new Promise((resolve) => setTimeout(resolve, 1));
          throw handleBoom;
        },
        finish() {
          return Promise.reject(finishBoom);
        },
      });
      const reported = await firstThenSecond(kind, Handler, null);
      assertReportedFirst(kind, reported, seen, finishBoom);
    });

    test("a rejection from an async finish() after a synchronous handle() reaches handleError after the reply", async () => {
      const boom = new TypeError("async finish boom");
      const { Handler, seen } = failingFirst(kind, {
        handle(handler) {
          void handler.wfile.write("first");
        },
        finish: async () => {
          await new Promise((resolve) => setTimeout(resolve, 1));
          throw boom;
        },
      });
      const reported = await firstThenSecond(kind, Handler, "first");
      assertReportedFirst(kind, reported, seen, boom);
    });

    test("a handler class whose constructor throws is reported with the request; the next client is served", async () => {
      const boom = new Error("constructor boom");
      const { Handler } = failingFirst(kind, {});
      let constructed = 0;
      const Throwing = class extends (Handler as new (...args: never[]) => object) {
        constructor(...args: never[]) {
          if (++constructed === 1) throw boom;
          super(...args);
        }
      } as unknown as AnyHandlerClass;
      const reported = await firstThenSecond(kind, Throwing, null);
      assert.equal(reported.length, 1);
      assert.equal(reported[0].error, boom);
      assert.notEqual(reported[0].request, null);
      assertClientAddress(kind, reported[0].clientAddress);
    });

    test("a non-Error thrown value reaches handleError as it is", async () => {
      const { Handler } = failingFirst(kind, {
        handle() {
          throw "a string, not an Error";
        },
      });
      const reported = await firstThenSecond(kind, Handler, null);
      assert.deepEqual(reported.map((entry) => entry.error), ["a string, not an Error"]);
    });

    test("a handleError() that itself throws does not stop the server; the failure is printed", async () => {
      const boom = new Error("handler failed");
      const { Handler } = failingFirst(kind, {
        handle() {
          throw boom;
        },
      });
      const server = kind.create(Handler);
      let calls = 0;
      server.handleError = () => {
        calls++;
        throw new Error("handleError failed too");
      };
      const printed = await capturingConsoleError(async () => {
        await serving(server, async () => {
          await assertNoReply(kind, server.serverAddress, "first");
          assert.equal(await kind.request(server.serverAddress, "second"), "second");
          await within(5000, waitFor(() => calls === 1));
        });
      });
      assert.equal(calls, 1);
      assert.ok(
        printed.some((line) => line.includes("handleError failed too")),
        `stderr should show the failure of handleError, got ${JSON.stringify(printed)}`,
      );
    });

    test("the default handleError() prints the error and the client's address to stderr and the server goes on", async () => {
      const { Handler } = failingFirst(kind, {
        handle() {
          throw new Error("printed boom");
        },
      });
      const server = kind.create(Handler);
      const printed = await capturingConsoleError(async () => {
        await serving(server, async () => {
          await assertNoReply(kind, server.serverAddress, "first");
          assert.equal(await kind.request(server.serverAddress, "second"), "second");
        });
      });
      assert.equal(printed.length, 1, JSON.stringify(printed));
      assert.match(printed[0], /Exception occurred during processing of request/);
      assert.match(printed[0], /printed boom/);
      if (kind.transport === "tcp" || kind.transport === "udp") assert.match(printed[0], /from 127\.0\.0\.1:\d+/);
    });
  });
}
