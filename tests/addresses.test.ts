// Addresses are checked before any socket is made, with errors that say what is allowed; failed binds leak nothing.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AddressInUseError,
  AsyncTCPServer,
  AsyncUDPServer,
  getDefaultRuntime,
  MAX_UNIX_PATH_BYTES,
  type Runtime,
  StreamRequestHandler,
  TCPServer,
  UDPServer,
} from "../mod.ts";
import {
  type AnyServer,
  exchange,
  openFileDescriptors,
  SERVER_KINDS,
  serving,
  socketPath,
  waitFor,
  within,
} from "./_helpers.ts";

/** The detected runtime, recording every call that could make a socket or touch the network. */
function spyRuntime(): { runtime: Runtime; calls: string[] } {
  const real = getDefaultRuntime();
  const calls: string[] = [];
  const runtime: Runtime = {
    name: real.name,
    listenStream: (options) => {
      calls.push("listenStream");
      return real.listenStream(options);
    },
    listenDatagram: (options) => {
      calls.push("listenDatagram");
      return real.listenDatagram(options);
    },
    lookupHost: (hostname) => {
      calls.push(`lookupHost ${hostname}`);
      return real.lookupHost(hostname);
    },
    unixPathState: (path, transport) => {
      calls.push("unixPathState");
      return real.unixPathState(path, transport);
    },
    removeFile: (path) => {
      calls.push("removeFile");
      return real.removeFile(path);
    },
  };
  return { runtime, calls };
}

class Echo extends StreamRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write(await this.rfile.read());
  }
}

/** [address, error class, message pattern] for TCP and UDP servers. */
const BAD_INET_ADDRESSES: Array<[string, unknown, typeof TypeError | typeof RangeError, RegExp]> = [
  ["port -1", ["127.0.0.1", -1], RangeError, /port must be 0-65535, got -1/],
  ["port 65536", ["127.0.0.1", 65536], RangeError, /port must be 0-65535, got 65536/],
  ["port 1.5", ["127.0.0.1", 1.5], TypeError, /port must be an integer 0-65535, got 1\.5/],
  ['port "80"', ["127.0.0.1", "80"], TypeError, /port must be an integer 0-65535, got "80"/],
  ["port NaN", ["127.0.0.1", NaN], TypeError, /port must be an integer 0-65535/],
  [
    "a string instead of [host, port]",
    "127.0.0.1:80",
    TypeError,
    /must be a \[host, port\] pair such as \["127\.0\.0\.1", 8000\]/,
  ],
  ["a one-element array", ["127.0.0.1"], TypeError, /must be a \[host, port\] pair/],
  ["null", null, TypeError, /must be a \[host, port\] pair/],
  [
    "host 123",
    [123, 80],
    TypeError,
    /host must be a string \("127\.0\.0\.1", "::1", "localhost" or "" for all\), got 123/,
  ],
  ['host "bad host!"', ["bad host!", 80], TypeError, /host "bad host!" is neither an IP address nor a valid host name/],
];

const INET_CLASSES = [TCPServer, AsyncTCPServer, UDPServer, AsyncUDPServer];
const UNIX_KINDS = SERVER_KINDS.filter((kind) => kind.transport === "unix" || kind.transport === "unixgram");

describe("bad TCP and UDP addresses are rejected before any socket is made", () => {
  for (const Server of INET_CLASSES) {
    for (const [what, address, ErrorClass, message] of BAD_INET_ADDRESSES) {
      test(`${Server.name}: ${what} → ${ErrorClass.name} ${message.source.slice(0, 40)}…`, async () => {
        const { runtime, calls } = spyRuntime();
        const server: AnyServer = new Server(address as never, Echo as never, { runtime });
        await assert.rejects(within(5000, server.listen()), (error: Error) => {
          assert.ok(error instanceof ErrorClass, `expected ${ErrorClass.name}, got ${error}`);
          assert.match(error.message, message);
          return true;
        });
        assert.deepEqual(calls, [], "no socket made, no lookup");
        assert.equal(server.closed, true);
      });
    }

    test(`${Server.name}: an unknown host is a TypeError naming it, and no socket is made`, async () => {
      const { runtime, calls } = spyRuntime();
      const server: AnyServer = new Server(["no-such-host.invalid", 0], Echo as never, { runtime });
      await assert.rejects(within(10000, server.listen()), (error: Error) => {
        assert.ok(error instanceof TypeError, `expected TypeError, got ${error}`);
        assert.match(error.message, /unknown host "no-such-host\.invalid" \(it does not resolve\)/);
        return true;
      });
      assert.deepEqual(calls, ["lookupHost no-such-host.invalid"]);
    });
  }

  test("a handler that is not a class (nor a function callable with new) is a TypeError at construction", () => {
    const notClasses: Array<[string, unknown]> = [
      ["an object", {}],
      ["null", null],
      ["undefined", undefined],
      ["a string", "Echo"],
      ["an arrow function", () => {}],
      ["an async function", async () => {}],
      ["a method", { handle() {} }.handle],
    ];
    for (const [what, handler] of notClasses) {
      if (what.includes("function") || what === "a method") {
        assert.throws(() => new TCPServer(["127.0.0.1", 0], handler as never), /cannot be called with `new`/);
      }
      for (const Server of INET_CLASSES) {
        assert.throws(
          () => new Server(["127.0.0.1", 0], handler as never),
          (error: Error) => {
            assert.ok(error instanceof TypeError, `${Server.name} with ${what}: expected TypeError, got ${error}`);
            assert.match(error.message, /RequestHandlerClass must be a handler class/);
            return true;
          },
          `${Server.name} accepted ${what} as a handler class`,
        );
      }
    }
  });

  test("options that are not an object are a TypeError at construction", () => {
    assert.throws(() => new TCPServer(["127.0.0.1", 0], Echo, null as never), /options must be an object, got null/);
    assert.throws(() => new TCPServer(["127.0.0.1", 0], Echo, 5 as never), /options must be an object, got number/);
  });
});

describe("bad unix socket paths are rejected before any socket is made", () => {
  const cases: Array<[string, unknown, typeof TypeError | typeof RangeError, RegExp]> = [
    ["an empty path", "", TypeError, /must not be empty/],
    [
      "a path over the sun_path limit",
      `/tmp/${"x".repeat(MAX_UNIX_PATH_BYTES)}.sock`,
      RangeError,
      new RegExp(`is ${MAX_UNIX_PATH_BYTES + 10} bytes long; at most ${MAX_UNIX_PATH_BYTES} bytes are allowed`),
    ],
    ["a number", 42, TypeError, /must be a string, got 42/],
    ["a path with a NUL byte", "/tmp/a\0b", TypeError, /must not contain a NUL byte/],
  ];
  for (const kind of UNIX_KINDS) {
    for (const [what, path, ErrorClass, message] of cases) {
      test(`${kind.name}: ${what} → ${ErrorClass.name}`, async () => {
        const { runtime, calls } = spyRuntime();
        const server: AnyServer = new kind.Server(path, Echo, { runtime });
        await assert.rejects(within(5000, server.listen()), (error: Error) => {
          assert.ok(error instanceof ErrorClass, `expected ${ErrorClass.name}, got ${error}`);
          assert.match(error.message, message);
          return true;
        });
        assert.deepEqual(calls, []);
      });
    }
  }

  test("a path of exactly the limit is accepted", async () => {
    const base = socketPath("max");
    const path = base.slice(0, -5) + "x".repeat(MAX_UNIX_PATH_BYTES - base.length) + ".sock";
    assert.equal(new TextEncoder().encode(path).length, MAX_UNIX_PATH_BYTES);
    const kind = UNIX_KINDS[0];
    await serving(new kind.Server(path, Echo), async (server) => {
      assert.equal(server.serverAddress, path);
      assert.equal(await exchange(path, "limit"), "limit");
    });
  });
});

describe("good addresses are normalized as in Python", () => {
  test('"localhost" is resolved: serverAddress holds 127.0.0.1', async () => {
    await serving(new TCPServer(["localhost", 0], Echo), async (server) => {
      assert.equal(server.serverAddress[0], "127.0.0.1");
      assert.equal(await exchange(server.serverAddress, "local"), "local");
    });
  });

  test('"" binds all IPv4 interfaces (0.0.0.0), reachable on 127.0.0.1', async () => {
    await serving(new TCPServer(["", 0], Echo), async (server) => {
      assert.equal(server.serverAddress[0], "0.0.0.0");
      assert.equal(await exchange(["127.0.0.1", Number(server.serverAddress[1])], "any"), "any");
    });
  });

  test('"[::1]" loses its brackets', async () => {
    await serving(new TCPServer(["[::1]", 0], Echo), async (server) => {
      assert.equal(server.serverAddress[0], "::1");
      assert.equal(await exchange(server.serverAddress, "six"), "six");
    });
  });
});

describe("an address in use", () => {
  test("TCP: listen() rejects with AddressInUseError whose message says 'address already in use' and names it", async () => {
    const holder = await new TCPServer(["127.0.0.1", 0], Echo).listen();
    try {
      const [host, port] = holder.serverAddress;
      const server = new AsyncTCPServer([host, port], Echo);
      await assert.rejects(server.listen(), (error: Error) => {
        assert.ok(error instanceof AddressInUseError, `expected AddressInUseError, got ${error}`);
        assert.equal(error.code, "EADDRINUSE");
        assert.match(error.message, new RegExp(`address already in use: 127\\.0\\.0\\.1:${port}`));
        return true;
      });
      assert.equal(server.closed, true);
    } finally {
      await holder.serverClose();
    }
  });

  test("UDP: listen() rejects with AddressInUseError", async () => {
    const holder = await new UDPServer(["127.0.0.1", 0], Echo as never).listen();
    try {
      await assert.rejects(new AsyncUDPServer(holder.serverAddress, Echo as never).listen(), (error: Error) => {
        assert.ok(error instanceof AddressInUseError, `expected AddressInUseError, got ${error}`);
        assert.match(error.message, /address already in use/);
        return true;
      });
    } finally {
      await holder.serverClose();
    }
  });

  for (
    const [transport, Servers] of [["TCP", [TCPServer, AsyncTCPServer]], ["UDP", [UDPServer, AsyncUDPServer]]] as const
  ) {
    test(`${transport}: 1024 failed binds in a row leak no file descriptor`, async () => {
      const holder: AnyServer = await new Servers[0](["127.0.0.1", 0], Echo as never).listen();
      try {
        const address = holder.serverAddress;
        // One failure first, so that anything a runtime opens once and keeps (a lazily made event loop handle, say) is
        // open before counting.
        await assert.rejects(new Servers[1](address, Echo as never).listen(), AddressInUseError);
        await new Promise((resolve) => setTimeout(resolve, 50));
        const before = openFileDescriptors();
        for (let i = 0; i < 1024; i++) {
          const server: AnyServer = new Servers[i % 2](address, Echo as never);
          const error = await server.listen().then(() => null, (failure: unknown) => failure);
          if (!(error instanceof AddressInUseError)) assert.fail(`bind ${i}: expected AddressInUseError, got ${error}`);
        }
        // Closing is asynchronous on some runtimes: wait (boundedly) for the count to settle back.
        await waitFor(() => openFileDescriptors() <= before, 5000).catch(() => {});
        assert.equal(openFileDescriptors(), before, "file descriptors after 1024 failed binds");
      } finally {
        await holder.serverClose();
      }
    });
  }
});
