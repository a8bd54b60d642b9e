// The parts of the threading mix-in that need no worker thread: error reports, the server view, module URLs, and the
// port socket's flow control, driven by hand.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  detectRuntime,
  HandlerLoadError,
  LineTooLongError,
  SocketTimeoutError,
  ThreadingTCPServer,
  UnsupportedError,
  WorkerExitedError,
} from "../mod.ts";
import { siblingModuleUrl } from "../src/module_url.ts";
import { errorFromReport, reportError } from "../src/threading/error_report.ts";
import { PortStreamSocket } from "../src/threading/port_stream_socket.ts";
import { type FromWorker, STREAM_WINDOW } from "../src/threading/protocol.ts";
import { snapshotServer } from "../src/threading/server_view.ts";
import { ThreadEcho } from "./threading_handlers.ts";

describe("threading parts: errors cross threads as data", () => {
  test("library errors come back as their class, with message, stack and fields", () => {
    const original = new SocketTimeoutError(250);
    const rebuilt = errorFromReport(structuredClone(reportError(original)));
    assert.ok(rebuilt instanceof SocketTimeoutError);
    assert.equal(rebuilt.name, "SocketTimeoutError");
    assert.equal(rebuilt.message, original.message);
    assert.equal(rebuilt.stack, original.stack);
    assert.equal((rebuilt as SocketTimeoutError).timeout, 250);
    assert.ok(errorFromReport(reportError(new LineTooLongError(10))) instanceof LineTooLongError);
    assert.ok(errorFromReport(reportError(new HandlerLoadError("x"))) instanceof HandlerLoadError);
  });

  test("standard errors keep their class; others their name; causes and codes survive; non-errors are described", () => {
    assert.ok(errorFromReport(reportError(new TypeError("t"))) instanceof TypeError);
    class CustomError extends Error {
      code = "E_CUSTOM";
      constructor() {
        super("custom", { cause: new RangeError("inner") });
        this.name = "CustomError";
      }
    }
    const rebuilt = errorFromReport(structuredClone(reportError(new CustomError())));
    assert.equal(rebuilt.name, "CustomError");
    assert.equal((rebuilt as unknown as { code: string }).code, "E_CUSTOM");
    assert.ok(rebuilt.cause instanceof RangeError);
    assert.equal(errorFromReport(reportError("plain string")).message, "plain string");
    assert.match(errorFromReport(reportError(42)).message, /42/);
  });
});

describe("threading parts: the server view", () => {
  test("copies data fields and settings, skips methods, getters and what cannot be cloned", () => {
    class Custom extends ThreadingTCPServer {
      shared: Int32Array = new Int32Array(new SharedArrayBuffer(4));
      label = "custom";
      callback = (): void => {};
      holder = { fn: (): void => {} };
    }
    const server = new Custom(["127.0.0.1", 8000], ThreadEcho, { maxWorkers: 3 });
    server.applyOptions();
    const view = snapshotServer(server);
    assert.deepEqual(view.serverAddress, ["127.0.0.1", 8000]);
    assert.equal(view.transport, "tcp");
    assert.equal(view.label, "custom");
    assert.equal(view.maxWorkers, 3);
    assert.equal(view.requestQueueSize, 511);
    assert.equal(view.blockOnClose, true);
    assert.ok(view.shared instanceof Int32Array);
    assert.equal("callback" in view, false);
    assert.equal("holder" in view, false);
    assert.equal("RequestHandlerClass" in view, false);
    assert.equal("runtime" in view, false);
    // A SharedArrayBuffer crosses threads as the same memory: posting the view shares, not copies, the counter.
    const copy = structuredClone(view);
    Atomics.add(copy.shared as Int32Array, 0, 5);
    assert.equal(Atomics.load(server.shared, 0), 5);
  });
});

describe("threading parts: runtimes without threads", () => {
  test("a runtime adapter without startWorker is refused before binding, naming the adapter", async () => {
    const runtime = { ...detectRuntime(), name: "in-memory", startWorker: undefined };
    const server = new ThreadingTCPServer(["127.0.0.1", 0], ThreadEcho, { runtime });
    await assert.rejects(server.listen(), (error: Error) => {
      assert.ok(error instanceof UnsupportedError);
      assert.match(error.message, /in-memory/);
      return true;
    });
  });
});

describe("threading parts: module URLs", () => {
  test("a sibling keeps the extension of the running module", () => {
    assert.equal(siblingModuleUrl("file:///a/b/pool.ts", "worker"), "file:///a/b/worker.ts");
    assert.equal(siblingModuleUrl("file:///dist/src/pool.js", "worker"), "file:///dist/src/worker.js");
    assert.equal(
      siblingModuleUrl("https://jsr.io/@x/y/1.0.0/src/pool.ts", "worker"),
      "https://jsr.io/@x/y/1.0.0/src/worker.ts",
    );
  });
});

describe("threading parts: the port socket's flow control", () => {
  /** A port socket whose messages are kept, with an attached consumer that records what it gets. */
  function harness() {
    const sent: FromWorker[] = [];
    const socket = new PortStreamSocket(7, ["127.0.0.1", 1], ["127.0.0.1", 2], (message) => sent.push(message));
    const got = { data: 0, ended: false, drains: 0, closed: false, errors: [] as Error[] };
    socket.attach({
      data: (chunk) => (got.data += chunk.length),
      end: () => (got.ended = true),
      error: (error) => got.errors.push(error),
      drain: () => got.drains++,
      close: () => (got.closed = true),
    });
    const posted = () => sent.reduce((n, m) => n + (m.type === "data" ? m.chunk.length : 0), 0);
    return { socket, sent, got, posted };
  }

  test("writes beyond the window wait in the socket, in chunks of at most 64 KiB, until credit comes back", async () => {
    const { socket, sent, got, posted } = harness();
    let credited = 0;
    const credit = (bytes: number) => {
      credited += bytes;
      socket.onMessage({ type: "credit", id: 7, bytes });
    };
    const big = new Uint8Array(STREAM_WINDOW * 4);
    assert.equal(socket.write(big), false, "write() asks the writer to wait");
    let flushed = false;
    void socket.flushed().then(() => (flushed = true));
    for (let rounds = 0; posted() < big.length; rounds++) {
      assert.ok(posted() - credited <= STREAM_WINDOW + 65536, `${posted() - credited} bytes in flight`);
      assert.ok(rounds < 100, "credit keeps the bytes moving");
      credit(posted() - credited);
    }
    assert.ok(sent.every((m) => m.type !== "data" || m.chunk.length <= 65536));
    credit(posted() - credited);
    assert.equal(got.drains, 1, "drain once below the window");
    assert.equal(socket.bufferedAmount, 0);
    await Promise.resolve();
    assert.ok(flushed);
  });

  test("writes copy the caller's bytes (its buffer is never detached)", () => {
    const { socket } = harness();
    const mine = new Uint8Array([1, 2, 3]);
    socket.write(mine);
    assert.equal(mine.buffer.byteLength, 3);
    assert.deepEqual([...mine], [1, 2, 3]);
  });

  test("received bytes wait while paused and are acknowledged only once delivered", () => {
    const { socket, sent, got } = harness();
    socket.pause();
    socket.onMessage({ type: "data", id: 7, chunk: new Uint8Array(STREAM_WINDOW) });
    socket.onMessage({ type: "end", id: 7 });
    assert.equal(got.data, 0);
    assert.equal(sent.filter((m) => m.type === "credit").length, 0, "no credit while the consumer is paused");
    socket.resume();
    assert.equal(got.data, STREAM_WINDOW);
    assert.equal(got.ended, true);
    const credited = sent.filter((m) => m.type === "credit").reduce(
      (n, m) => n + (m.type === "credit" ? m.bytes : 0),
      0,
    );
    assert.equal(credited, STREAM_WINDOW);
  });

  test("half-close and close wait for queued bytes; a failure drops them and reaches the consumer", () => {
    const { socket, sent, got } = harness();
    socket.write(new Uint8Array(STREAM_WINDOW * 2));
    socket.closeWrite();
    assert.equal(sent.some((m) => m.type === "closeWrite"), false, "FIN waits for the queued bytes");
    socket.onMessage({ type: "credit", id: 7, bytes: STREAM_WINDOW * 2 });
    assert.equal(sent.at(-1)?.type, "closeWrite");
    socket.onMessage({ type: "fail", id: 7, error: reportError(new Error("reset by peer")) });
    assert.equal(got.errors[0]?.message, "reset by peer");
    socket.onMessage({ type: "closed", id: 7 });
    assert.equal(got.closed, true);
  });

  test("WorkerExitedError is exported for handleError checks", () => {
    assert.equal(new WorkerExitedError("x").name, "WorkerExitedError");
  });
});
