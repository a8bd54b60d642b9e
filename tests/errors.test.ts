// Handler errors reach handleError() with the request, the client's address and the error; the server goes on.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isClientError, LineTooLongError, type SocketAddress } from "../mod.ts";
import { ClientErrorLog } from "../src/client_errors.ts";
import {
  type AnyHandler,
  type AnyHandlerClass,
  type AnyServer,
  assertNoReply,
  capturingConsoleError,
  connect,
  recordErrors,
  type ReportedError,
  type ServerKind,
  serving,
  sleep,
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

/** Records into `calls` everything `console.error` is given while `body` runs, argument by argument. */
async function rawConsoleError(calls: unknown[][], body: () => Promise<void>): Promise<unknown[][]> {
  const original = console.error;
  console.error = (...args: unknown[]) => void calls.push(args);
  try {
    await body();
  } finally {
    console.error = original;
  }
  return calls;
}

/** Connects, sends a partial line, and resets the connection once `served()` (a handler reads it). */
async function resetAfterConnecting(address: SocketAddress, served: () => boolean): Promise<void> {
  const socket = await connect(address);
  socket.on("error", () => {});
  socket.write("partial");
  await within(5000, waitFor(served), "a handler for the connection");
  await sleep(10);
  socket.resetAndDestroy();
}

// TCP only: a unix stream socket closed by its peer ends without a reset.
for (const kind of SUPPORTED_KINDS.filter((kind) => kind.transport === "tcp")) {
  describe(`${kind.name}: errors clients cause are reported briefly`, () => {
    let started = 0;
    const LineEcho = kind.handler({
      async handle(handler) {
        started++;
        for await (const line of handler.rfile) await handler.wfile.write(line);
      },
    });

    test("a reset is one line without a stack, with the client's address; a handler's own error keeps its stack", async () => {
      const server = kind.create(LineEcho);
      let resets = 0;
      started = 0;
      const calls: unknown[][] = [];
      await rawConsoleError(calls, async () => {
        await serving(server, async () => {
          await resetAfterConnecting(server.serverAddress, () => started === 1);
          await within(5000, waitFor(() => calls.length >= 1), "the reset's report");
          resets = calls.length;
        });
      });
      assert.equal(resets, 1, JSON.stringify(calls));
      assert.equal(calls[0].length, 1, "one string, no error object (whose stack would be printed)");
      const line = String(calls[0][0]);
      assert.doesNotMatch(line, /\n/);
      assert.match(line, /^Client error/);
      assert.match(line, /ECONNRESET|ConnectionReset|reset/i);
      if (kind.transport === "tcp") assert.match(line, /from 127\.0\.0\.1:\d+/);

      const failing = kind.create(kind.handler({
        handle() {
          throw new Error("the handler's own");
        },
      }));
      const own: unknown[][] = [];
      await rawConsoleError(own, () =>
        serving(failing, async () => {
          await kind.request(failing.serverAddress, "x");
          await within(5000, waitFor(() => own.length >= 1));
        }));
      const error = own[0].find((arg) => arg instanceof Error) as Error | undefined;
      assert.ok(error !== undefined && error.message === "the handler's own", JSON.stringify(own));
      assert.match(String(error.stack), /\n\s+at /);
    });

    test("a flood of resets prints at most a burst of lines, then one summing up the rest", async () => {
      const server = kind.create(LineEcho);
      const total = 30;
      const handleError = server.handleError;
      let reported = 0;
      server.handleError = function (this: AnyServer, ...args) {
        reported++;
        return handleError.apply(this, args);
      };
      const calls = await rawConsoleError([], async () => {
        await serving(server, async () => {
          // One after another, each once its handler runs: a connection reset before it is accepted may end without
          // an error on some runtimes.
          started = 0;
          for (let i = 1; i <= total; i++) {
            await resetAfterConnecting(server.serverAddress, () => started === i);
            await within(5000, waitFor(() => reported === i), "the reset reported");
          }
        });
      });
      const lines = calls.map((args) => String(args[0]));
      const brief = lines.filter((line) => line.startsWith("Client error"));
      const summary = lines.filter((line) => /more client errors not reported/.test(line));
      assert.equal(brief.length + summary.length, lines.length, JSON.stringify(lines));
      assert.ok(brief.length >= 10 && brief.length <= 10 + 12, `${brief.length} lines printed one by one`);
      const dropped = summary.map((line) => Number(/^(\d+) more/.exec(line)![1])).reduce((a, b) => a + b, 0);
      assert.equal(brief.length + dropped, total, JSON.stringify(lines));
      assert.ok(summary.length >= 1, "the summary is printed by serverClose() at the latest");
    });
  });
}

describe("client errors", () => {
  test("isClientError() knows resets, broken pipes, timeouts and the library's limits; not a handler's TypeError", () => {
    const coded = (code: string) => Object.assign(new Error(`read ${code}`), { code });
    const named = (name: string) => Object.assign(new Error("x"), { name });
    for (const code of ["ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT", "ENOTCONN"]) {
      assert.ok(isClientError(coded(code)), code);
    }
    for (const name of ["ConnectionReset", "BrokenPipe", "NotConnected", "LineTooLongError", "SocketTimeoutError"]) {
      assert.ok(isClientError(named(name)), name);
    }
    assert.ok(isClientError(new LineTooLongError(10)));
    for (const error of [new TypeError("bug"), coded("EMFILE"), coded("EACCES"), "ECONNRESET", null, undefined]) {
      assert.ok(!isClientError(error), String(error));
    }
  });

  test("the log writes a burst, then one a second, and sums up what it left out before its next line", () => {
    let now = 1_000_000;
    const written: string[] = [];
    const log = new ClientErrorLog((line) => written.push(line), () => now);
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    const pipe = Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
    for (let i = 0; i < 25; i++) log.report(`Client error from 10.0.0.${i}:1`, i % 5 === 0 ? pipe : reset);
    assert.equal(written.length, 10);
    assert.equal(written[0], "Client error from 10.0.0.0:1: Error: write EPIPE");
    now += 400;
    log.report("Client error from a", reset);
    assert.equal(written.length, 10, "no line before a second has passed");
    now += 700;
    log.report("Client error from b", reset);
    assert.deepEqual(written.slice(10), [
      "16 more client errors not reported one by one (over 1.1 s): ECONNRESET ×13, EPIPE ×3",
      "Client error from b: Error: read ECONNRESET",
    ]);
    log.flush();
    assert.equal(written.length, 12, "nothing left to sum up");
    now += 60_000;
    for (let i = 0; i < 10; i++) log.report("c", reset);
    assert.equal(written.length, 22, "a full burst again after a quiet minute");
  });
});
