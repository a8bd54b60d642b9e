// Server options: a bad value fails at construction (or, set in a subclass field, at listen()) with a TypeError or
// RangeError naming the allowed range, before anything is bound; good values and the defaults pass.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AsyncTCPServer,
  AsyncUDPServer,
  ForkingTCPServer,
  type ServerClass,
  StreamRequestHandler,
  TCPServer,
  ThreadingTCPServer,
  UDPServer,
} from "../mod.ts";
import { connectOutcome, within } from "./_helpers.ts";

const ADDRESS = ["127.0.0.1", 0] as const;

/** Each server class with the options it takes (beyond the base ones). */
const CLASSES: ReadonlyArray<readonly [ServerClass, readonly string[]]> = [
  [TCPServer, ["requestQueueSize", "allowReuseAddress", "lineTimeout", "idleTimeout", "maxConnectionsPerAddress"]],
  [UDPServer, ["maxPacketSize", "allowReusePort"]],
  [AsyncTCPServer, ["requestQueueSize", "maxConcurrentRequests"]],
  [AsyncUDPServer, ["maxPacketSize", "maxConcurrentRequests"]],
  [ThreadingTCPServer, ["requestQueueSize", "maxWorkers", "maxRequestsPerWorker", "workerIdleTimeout"]],
  [ForkingTCPServer, ["requestQueueSize", "maxChildren", "spareChildren", "requestsPerChild", "childPermissions"]],
];

const BASE = ["timeout", "drainTimeout", "blockOnClose", "bindAndActivate", "signal", "runtime"];

/** Bad values of each option: the error class and what the message must say. */
const BAD: Readonly<Record<string, ReadonlyArray<readonly [unknown, typeof TypeError | typeof RangeError, RegExp]>>> = {
  timeout: [[-1, RangeError, /0 to 2147483647/], ["1s", TypeError, /the string "1s"/], [NaN, RangeError, /NaN/]],
  drainTimeout: [
    [-1, RangeError, /drainTimeout must be null or a number of milliseconds from 0 to 2147483647/],
    [
      "1s",
      TypeError,
      /got the string "1s"/,
    ],
    [Infinity, RangeError, /Infinity/],
    [2 ** 31, RangeError, /2147483648/],
  ],
  blockOnClose: [["yes", TypeError, /blockOnClose must be true or false/], [1, TypeError, /got 1/]],
  bindAndActivate: [[0, TypeError, /bindAndActivate must be true or false/]],
  signal: [[{}, TypeError, /an AbortSignal/], [true, TypeError, /an AbortSignal/]],
  runtime: [["node", TypeError, /runtime must be an object/]],
  requestQueueSize: [[0, RangeError, /from 1 to 65535/], [1.5, RangeError, /1\.5/], ["511", TypeError, /string/]],
  allowReuseAddress: [["true", TypeError, /true or false/]],
  lineTimeout: [[-1, RangeError, /lineTimeout must be null or a number of milliseconds/], ["60s", TypeError, /string/]],
  maxConnectionsPerAddress: [[0, RangeError, /null or an integer 1 or more, got 0/], ["2", TypeError, /string/]],
  idleTimeout: [[-1, RangeError, /idleTimeout must be null or a number of milliseconds/], [{}, TypeError, /object/]],
  allowReusePort: [[1, TypeError, /true or false/]],
  maxPacketSize: [[0, RangeError, /maxPacketSize must be an integer from 1 to/], [-5, RangeError, /-5/]],
  maxConcurrentRequests: [[0, RangeError, /null or Infinity or an integer 1 or more/], [2.5, RangeError, /2\.5/], [
    "8",
    TypeError,
    /string/,
  ]],
  maxWorkers: [[0, RangeError, /null or an integer from 1 to 1024/], [Infinity, RangeError, /Infinity/]],
  maxRequestsPerWorker: [[0, RangeError, /Infinity or an integer 1 or more/], [null, TypeError, /got null/]],
  workerIdleTimeout: [[-1, RangeError, /0 to 2147483647/], [null, TypeError, /got null/]],
  maxChildren: [[0, RangeError, /from 1 to 65535/]],
  spareChildren: [[-1, RangeError, /from 0 to 65535/]],
  requestsPerChild: [[0, RangeError, /Infinity or an integer 1 or more/]],
  childPermissions: [["--allow-net", TypeError, /an array of strings/], [[1], TypeError, /an array of strings/]],
};

/** Good values of each option, the edges of the ranges included. */
const GOOD: Readonly<Record<string, readonly unknown[]>> = {
  timeout: [null, 0, 2147483647],
  drainTimeout: [null, 0, 5000],
  blockOnClose: [true, false],
  bindAndActivate: [false],
  signal: [new AbortController().signal],
  requestQueueSize: [1, 511, 65535],
  allowReuseAddress: [true],
  lineTimeout: [null, 0, 60_000],
  idleTimeout: [null, 300_000],
  maxConnectionsPerAddress: [null, 1, 256],
  allowReusePort: [false],
  maxPacketSize: [1, 65535],
  maxConcurrentRequests: [null, 1, 1000, Infinity],
  maxWorkers: [null, 1],
  maxRequestsPerWorker: [1, Infinity],
  workerIdleTimeout: [0, 10_000],
  maxChildren: [1, 40],
  spareChildren: [0, 2],
  requestsPerChild: [1, Infinity],
  childPermissions: [[], ["--allow-read"]],
};

describe("server options", () => {
  for (const [Server, own] of CLASSES) {
    test(`${Server.name}: each bad value fails at construction with TypeError or RangeError naming what is allowed`, () => {
      for (const name of [...BASE, ...own]) {
        for (const [value, ErrorClass, message] of BAD[name]) {
          assert.throws(
            () => new Server(ADDRESS, StreamRequestHandler, { [name]: value }),
            (error: Error) => {
              assert.equal(error.constructor, ErrorClass, `${name}: ${String(value)} gave ${error}`);
              assert.match(error.message, new RegExp(`^${name} must be `));
              assert.match(error.message, message);
              return true;
            },
            `${name}: ${String(value)}`,
          );
        }
      }
    });

    test(`${Server.name}: good values and undefined pass`, () => {
      for (const name of [...BASE, ...own]) {
        for (const value of [...(GOOD[name] ?? []), undefined]) {
          new Server(ADDRESS, StreamRequestHandler, { [name]: value });
        }
      }
    });
  }

  test("a bad value in a subclass field fails at listen(), before anything is bound; fixed, the server listens", async () => {
    class Negative extends TCPServer {
      override drainTimeout: number | null = -5;
    }
    const server = new Negative(ADDRESS, StreamRequestHandler);
    await assert.rejects(server.listen(), (error: Error) => {
      assert.ok(error instanceof RangeError);
      assert.match(
        error.message,
        /^drainTimeout must be null or a number of milliseconds from 0 to 2147483647, got -5$/,
      );
      return true;
    });
    assert.equal(server.isBound(), false);
    assert.equal(server.closed, false, "nothing to close: the server is as it was");
    server.drainTimeout = 100;
    await within(5000, server.listen());
    try {
      assert.equal(await connectOutcome(server.serverAddress), "connected");
    } finally {
      await within(5000, server.serverClose());
    }
  });

  test("the listen backlog defaults to 511, as Node's and nginx's", () => {
    assert.equal(new TCPServer(ADDRESS, StreamRequestHandler).requestQueueSize, 511);
    assert.equal(new AsyncTCPServer(ADDRESS, StreamRequestHandler).requestQueueSize, 511);
  });
});
