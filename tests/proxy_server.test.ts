// The PROXY protocol on stream servers, over real sockets: every server class and mode sees the client the header
// names and keeps the bytes after it; invalid, late, untrusted and missing headers close the connection without a
// reply before verifyRequest and the handler; LOCAL and UNKNOWN fall back to the socket; health checks are no errors.
import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import {
  AsyncTCPServer,
  AsyncUnixStreamServer,
  type Connection,
  type ConnectionStage,
  encodeProxyHeader,
  ForkingTCPServer,
  ForkingUnixStreamServer,
  ProxyProtocolError,
  type ProxyProtocolOptions,
  type ServerClass,
  type SocketAddress,
  StreamRequestHandler,
  TCPServer,
  ThreadingTCPServer,
  ThreadingUnixStreamServer,
  UnixStreamServer,
} from "../mod.ts";
import { type AnyServer, bytes, recordErrors, serving, sleep, socketPath, waitFor, within } from "./_helpers.ts";
import { ProxyReport } from "./proxy_handlers.ts";

interface Talk {
  /** Everything the server sent. */
  readonly received: string;
  /** How the connection ended: "end" (FIN), or the error code (a reset). */
  readonly ended: string;
}

/**
 * Connects, writes `pieces` one by one (`gap` ms apart, so that each arrives in a read of its own), half-closes
 * unless `keepOpen` (once `linesBeforeEnd` lines came back, if given), and collects what the server sends until the
 * connection closes.
 */
function talk(
  address: SocketAddress,
  pieces: ReadonlyArray<string | Uint8Array>,
  options: { gap?: number; keepOpen?: boolean; linesBeforeEnd?: number; timeout?: number } = {},
): Promise<Talk> {
  const { gap = 0, keepOpen = false, linesBeforeEnd = 0, timeout = 10000 } = options;
  return within(
    timeout,
    new Promise<Talk>((resolve) => {
      const socket = typeof address === "string"
        ? net.connect({ path: address, allowHalfOpen: true })
        : net.connect({ host: address[0], port: address[1], allowHalfOpen: true });
      socket.setNoDelay(true);
      let received = "";
      let ended = "end";
      socket.setEncoding("utf8");
      let written = false;
      const endWhenDue = () => {
        if (keepOpen || !written || socket.writableEnded) return;
        if (received.split("\n").length - 1 >= linesBeforeEnd) socket.end();
      };
      socket.on("data", (chunk: string) => {
        received += chunk;
        endWhenDue();
      });
      socket.on("end", () => socket.end());
      socket.on("error", (error: Error & { code?: string }) => (ended = error.code ?? error.message));
      socket.on("close", () => resolve({ received, ended }));
      socket.once("connect", async () => {
        for (const [index, piece] of pieces.entries()) {
          if (index > 0 && gap > 0) await sleep(gap);
          if (socket.destroyed) return;
          socket.write(piece);
        }
        written = true;
        endWhenDue();
      });
    }),
    "the PROXY protocol client",
  );
}

interface Report {
  client: SocketAddress;
  connectionClient: SocketAddress;
  peer: SocketAddress;
  pid: number;
  header: null | {
    version: number;
    command: string;
    protocol: string;
    source: SocketAddress | null;
    destination: SocketAddress | null;
    authority: string | null;
    uniqueId: string | null;
    crc32c: number | null;
    rawLength: number;
  };
}

/** The report line and the echoed lines after it. */
function reportOf(result: Talk): { report: Report; echoed: string } {
  const end = result.received.indexOf("\n");
  assert.ok(end > 0, `a report line, got ${JSON.stringify(result.received)} (${result.ended})`);
  return { report: JSON.parse(result.received.slice(0, end)), echoed: result.received.slice(end + 1) };
}

interface Rejection {
  readonly peer: SocketAddress;
  readonly error: unknown;
}

/** Records the connections the server refuses before they become requests (and prints nothing). */
function recordRejections(server: AnyServer): Rejection[] {
  const rejected: Rejection[] = [];
  (server as TCPServer).handleRejectedConnection = (connection: Connection, error: unknown) =>
    void rejected.push({ peer: connection.remoteAddress, error });
  return rejected;
}

function codesOf(rejected: readonly Rejection[]): string[] {
  return rejected.map(({ error }) => (error instanceof ProxyProtocolError ? error.code : String(error)));
}

const V1 = "PROXY TCP4 203.0.113.7 198.51.100.1 40001 443\r\n";
const V2 = encodeProxyHeader({
  version: 2,
  source: ["2001:db8::7", 40002],
  destination: ["2001:db8::1", 443],
  authority: "example.com",
  uniqueId: "conn-1",
  crc32c: true,
});

const MODES: ReadonlyArray<{ name: string; tcp: ServerClass; unix: ServerClass; options?: Record<string, unknown> }> = [
  { name: "sync", tcp: TCPServer, unix: UnixStreamServer },
  { name: "async", tcp: AsyncTCPServer, unix: AsyncUnixStreamServer },
  { name: "threading", tcp: ThreadingTCPServer, unix: ThreadingUnixStreamServer, options: { maxWorkers: 2 } },
  { name: "forking", tcp: ForkingTCPServer, unix: ForkingUnixStreamServer, options: { spareChildren: 1 } },
];

describe("PROXY protocol on every stream server", () => {
  for (const mode of MODES) {
    for (const transport of ["tcp", "unix"] as const) {
      const Server = transport === "tcp" ? mode.tcp : mode.unix;
      const address = (): SocketAddress => (transport === "tcp" ? ["127.0.0.1", 0] : socketPath("proxy"));
      const make = (proxyProtocol: ProxyProtocolOptions) =>
        new Server(address(), ProxyReport, { ...mode.options, proxyProtocol }) as AnyServer;

      test(`${Server.name}: clientAddress is the PROXY source; the bytes after the header (same read) reach rfile`, async () => {
        const server = make({});
        const errors = recordErrors(server);
        const rejected = recordRejections(server);
        await serving(server, async () => {
          const result = await talk(server.serverAddress, [`${V1}first line\n`, "second line\n"], {
            gap: 30,
            linesBeforeEnd: 3,
          });
          const { report, echoed } = reportOf(result);
          assert.deepEqual(report.client, ["203.0.113.7", 40001]);
          assert.deepEqual(report.connectionClient, ["203.0.113.7", 40001]);
          assert.deepEqual(report.peer, transport === "tcp" ? ["127.0.0.1", report.peer[1]] : "");
          assert.equal(report.header?.version, 1);
          assert.deepEqual(report.header?.destination, ["198.51.100.1", 443]);
          assert.equal(echoed, "first line\nsecond line\n");
          if (mode.name === "forking") assert.notEqual(report.pid, process.pid, "served in a child process");
          else assert.equal(report.pid, process.pid);
        });
        assert.deepEqual(errors, []);
        assert.deepEqual(rejected, []);
      });

      test(`${Server.name}: a v2 header in three pieces, with TLVs, then data`, async () => {
        const server = make({ versions: ["v2"] });
        await serving(server, async () => {
          const pieces = [V2.subarray(0, 5), V2.subarray(5, 30), new Uint8Array([...V2.subarray(30), ...bytes("x\n")])];
          const { report, echoed } = reportOf(await talk(server.serverAddress, pieces, { gap: 30, linesBeforeEnd: 2 }));
          assert.deepEqual(report.client, ["2001:db8::7", 40002]);
          assert.deepEqual(report.header, {
            version: 2,
            command: "PROXY",
            protocol: "TCP6",
            source: ["2001:db8::7", 40002],
            destination: ["2001:db8::1", 443],
            authority: "example.com",
            uniqueId: "conn-1",
            crc32c: report.header?.crc32c,
            rawLength: V2.length,
          });
          assert.equal(typeof report.header?.crc32c, "number");
          assert.equal(echoed, "x\n");
        });
      });

      test(`${Server.name}: an invalid header closes the connection without a reply, before the handler`, async () => {
        const server = make({});
        let verified = 0;
        server.verifyRequest = () => (verified++, true);
        const errors = recordErrors(server);
        const rejected = recordRejections(server);
        await serving(server, async () => {
          const result = await talk(server.serverAddress, ["GET / HTTP/1.1\r\nHost: x\r\n\r\n"]);
          assert.equal(result.received, "");
          // The server is not stuck: the next connection is served.
          const valid = await talk(server.serverAddress, [V1]);
          assert.deepEqual(reportOf(valid).report.client, ["203.0.113.7", 40001]);
        });
        if (mode.name === "forking") {
          // The parent reads nothing: the child reads the header (and reports a bad one on stderr).
          assert.equal(verified, 2);
          assert.deepEqual(rejected, []);
        } else {
          assert.equal(verified, 1, "verifyRequest ran for the valid connection only");
          assert.deepEqual(codesOf(rejected), ["bad-signature"]);
        }
        assert.deepEqual(errors, []);
      });
    }
  }
});

describe("PROXY protocol: what a server refuses, and what it accepts", () => {
  const tcp = (options: ProxyProtocolOptions, Server: ServerClass = AsyncTCPServer) =>
    new Server(["127.0.0.1", 0], ProxyReport, { proxyProtocol: options }) as AnyServer;

  test("every split point of a v1 line and a v2 header, with data: the same client and the same bytes", async () => {
    const server = tcp({});
    const rejected = recordRejections(server);
    await serving(server, async () => {
      const sessions: Array<Promise<void>> = [];
      for (const header of [bytes(V1), V2]) {
        const input = new Uint8Array([...header, ...bytes("data after the header\n")]);
        for (let cut = 1; cut < header.length + 2; cut++) {
          sessions.push(
            talk(server.serverAddress, [input.subarray(0, cut), input.subarray(cut)], { gap: 25 }).then((result) => {
              const { report, echoed } = reportOf(result);
              assert.deepEqual(report.client, header === V2 ? ["2001:db8::7", 40002] : ["203.0.113.7", 40001]);
              assert.equal(echoed, "data after the header\n", `split at ${cut}`);
            }),
          );
          if (sessions.length % 16 === 0) await Promise.all(sessions.splice(0));
        }
      }
      await Promise.all(sessions);
    });
    assert.deepEqual(rejected, []);
  });

  test("a late header: closed after headerTimeout, without a reply; others are served meanwhile (sync too)", async () => {
    for (const Server of [AsyncTCPServer, TCPServer]) {
      const server = tcp({ headerTimeout: 400 }, Server);
      const rejected = recordRejections(server);
      await serving(server, async () => {
        const started = Date.now();
        const silent = talk(server.serverAddress, ["PROXY TCP4 1.2.3.4"], { keepOpen: true });
        await sleep(50);
        const served = reportOf(await talk(server.serverAddress, [V1]));
        assert.deepEqual(served.report.client, ["203.0.113.7", 40001]);
        assert.ok(Date.now() - started < 400, `${Server.name} served another client while one was silent`);
        const late = await silent;
        assert.equal(late.received, "");
        assert.ok(Date.now() - started >= 350, `closed after the timeout, not before (${Date.now() - started} ms)`);
      });
      assert.deepEqual(codesOf(rejected), ["timeout"], Server.name);
      assert.match(String((rejected[0].error as Error).message), /within 400 ms/);
    }
  });

  test("header deadlines share one timer: a silent client after served ones is closed at its own deadline", async () => {
    const server = tcp({ headerTimeout: 300 });
    const rejected = recordRejections(server);
    await serving(server, async () => {
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(reportOf(await talk(server.serverAddress, [V1])).report.client, ["203.0.113.7", 40001]);
        await sleep(40);
      }
      const started = Date.now();
      const late = await talk(server.serverAddress, ["PROXY TCP4 1.2.3.4"], { keepOpen: true });
      const waited = Date.now() - started;
      assert.equal(late.received, "");
      assert.ok(waited >= 250 && waited < 2000, `closed at its own deadline, ${waited} ms after it connected`);
    });
    assert.deepEqual(codesOf(rejected), ["timeout"]);
  });

  test("an untrusted peer is closed at once, before it sends anything; a trusted one is served", async () => {
    const server = tcp({ trustedProxies: ["10.0.0.0/8", "::1"] });
    const rejected = recordRejections(server);
    let verified = 0;
    server.verifyRequest = () => (verified++, true);
    await serving(server, async () => {
      const result = await talk(server.serverAddress, [], { keepOpen: true });
      assert.equal(result.received, "");
    });
    assert.deepEqual(codesOf(rejected), ["untrusted-peer"]);
    assert.match(String((rejected[0].error as Error).message), /127\.0\.0\.1:\d+ is not a trusted proxy/);
    assert.equal(verified, 0);
    const trusting = tcp({ trustedProxies: ["127.0.0.0/8"] });
    await serving(trusting, async () => {
      assert.deepEqual(reportOf(await talk(trusting.serverAddress, [V1])).report.client, ["203.0.113.7", 40001]);
    });
  });

  test("forking: an untrusted peer is refused by the parent; a late header by the child, after headerTimeout", async () => {
    const untrusting = new ForkingTCPServer(["127.0.0.1", 0], ProxyReport, {
      spareChildren: 0,
      proxyProtocol: { trustedProxies: ["10.0.0.0/8"] },
    });
    const rejected = recordRejections(untrusting);
    await serving(untrusting, async () => {
      assert.equal((await talk(untrusting.serverAddress, [V1])).received, "");
      assert.equal(untrusting.activeChildren.size, 0, "no child was started for it");
    });
    assert.deepEqual(codesOf(rejected), ["untrusted-peer"]);
    const server = new ForkingTCPServer(["127.0.0.1", 0], ProxyReport, {
      spareChildren: 1,
      proxyProtocol: { headerTimeout: 300 },
    });
    const errors = recordErrors(server);
    await serving(server, async () => {
      await waitFor(() => server.activeChildren.size === 1, 10000, "the spare child");
      const started = Date.now();
      const late = await talk(server.serverAddress, ["PROXY TCP4 1.2"], { keepOpen: true });
      assert.equal(late.received, "");
      assert.ok(Date.now() - started >= 250, `closed after the timeout (${Date.now() - started} ms)`);
      assert.deepEqual(reportOf(await talk(server.serverAddress, [V1])).report.client, ["203.0.113.7", 40001]);
    });
    assert.deepEqual(errors, []);
  });

  test("forking with runInParent(): the parent reads the header, and the child sees it and the real peer", async () => {
    class Triage extends StreamRequestHandler<ForkingTCPServer> {
      override async handle() {
        assert.deepEqual(this.clientAddress, ["203.0.113.7", 40001]);
        assert.equal(new TextDecoder().decode(await this.rfile.readline()), "first\n");
        await this.server.handToChild(this.request, this.clientAddress);
      }
    }
    class TriageServer extends ForkingTCPServer {
      override finishRequest(request: Connection, clientAddress: SocketAddress): Promise<void> {
        return this.runInParent(request, clientAddress, Triage);
      }
    }
    const server = new TriageServer(["127.0.0.1", 0], ProxyReport, { spareChildren: 1, proxyProtocol: {} });
    const errors = recordErrors(server);
    const rejected = recordRejections(server);
    await serving(server, async () => {
      // Kept open until the answer: a connection the parent read from must not be half-closed before the handoff on
      // Deno (see the report), and bytes sent during the handoff are lost on Bun.
      const result = await talk(server.serverAddress, [`${V1}first\nsecond\n`], { linesBeforeEnd: 2 });
      const { report, echoed } = reportOf(result);
      assert.deepEqual(report.client, ["203.0.113.7", 40001]);
      assert.equal((report.peer as [string, number])[0], "127.0.0.1");
      assert.equal(report.header?.version, 1);
      assert.notEqual(report.pid, process.pid);
      assert.equal(echoed, "second\n");
      assert.equal((await talk(server.serverAddress, ["nonsense\n"])).received, "");
    });
    assert.deepEqual(errors, []);
    assert.deepEqual(codesOf(rejected), ["bad-signature"]);
  });

  test('unix peers: trusted with "unix", refused by a list of CIDRs', async () => {
    for (const [trustedProxies, served] of [[["unix"], true], [["127.0.0.1"], false]] as const) {
      const server = new AsyncUnixStreamServer(socketPath("proxy"), ProxyReport, {
        proxyProtocol: { trustedProxies },
      });
      const rejected = recordRejections(server);
      await serving(server, async () => {
        const result = await talk(server.serverAddress, [V1]);
        if (served) assert.deepEqual(reportOf(result).report.client, ["203.0.113.7", 40001]);
        else assert.equal(result.received, "");
      });
      assert.deepEqual(codesOf(rejected), served ? [] : ["untrusted-peer"]);
    }
  });

  test("versions: a v1 line on a v2-only server is refused, and the other way round", async () => {
    for (const [versions, header] of [[["v2"], bytes(V1)], [["v1"], V2]] as const) {
      const server = tcp({ versions });
      const rejected = recordRejections(server);
      await serving(server, async () => {
        assert.equal((await talk(server.serverAddress, [header])).received, "");
      });
      assert.deepEqual(codesOf(rejected), ["version-not-allowed"]);
    }
  });

  test("LOCAL and UNKNOWN: the socket's own addresses; the handler still runs (HAProxy's tcp-check)", async () => {
    const server = tcp({});
    await serving(server, async () => {
      for (const header of [encodeProxyHeader({ version: 2, command: "LOCAL" }), bytes("PROXY UNKNOWN\r\n")]) {
        const { report, echoed } = reportOf(await talk(server.serverAddress, [header, "ping\n"], { gap: 20 }));
        assert.deepEqual(report.client, report.peer);
        assert.equal((report.client as [string, number])[0], "127.0.0.1");
        assert.ok(report.header !== null);
        assert.equal(echoed, "ping\n");
      }
    });
  });

  test("verifyRequest sees the PROXY source, so per-client rules apply to the real client", async () => {
    const server = tcp({});
    const seen: SocketAddress[] = [];
    server.verifyRequest = (_request: Connection, clientAddress: SocketAddress) => {
      seen.push(clientAddress);
      return (clientAddress as [string, number])[0] !== "192.0.2.66";
    };
    await serving(server, async () => {
      const refused = await talk(server.serverAddress, ["PROXY TCP4 192.0.2.66 10.0.0.1 5 6\r\nhi\n"]);
      assert.equal(refused.received, "");
      assert.equal(reportOf(await talk(server.serverAddress, [V1])).report.header?.version, 1);
    });
    assert.deepEqual(seen, [["192.0.2.66", 5], ["203.0.113.7", 40001]]);
  });

  test("maxConnectionsPerAddress counts the client the header names, not the proxy's address", async () => {
    const server = new AsyncTCPServer(["127.0.0.1", 0], ProxyReport, {
      proxyProtocol: {},
      maxConnectionsPerAddress: 1,
    }) as AnyServer;
    const errors = recordErrors(server);
    /** Opens a connection with a v1 header from `source`; resolves with its first line, or "" when it is closed. */
    const open = (source: string) => {
      const [host, port] = server.serverAddress as [string, number];
      const socket = net.connect({ host, port });
      const line = new Promise<string>((resolve) => {
        let text = "";
        socket.setEncoding("utf8");
        socket.on("data", (chunk: string) => {
          text += chunk;
          if (text.includes("\n")) resolve(text.slice(0, text.indexOf("\n")));
        });
        socket.on("error", () => resolve(text));
        socket.on("close", () => resolve(text));
      });
      socket.write(`PROXY TCP4 ${source} 198.51.100.1 40001 443\r\n`);
      return { socket, line: within(5000, line) };
    };
    await serving(server, async () => {
      const first = open("203.0.113.7");
      assert.ok((await first.line).startsWith("{"), "the first connection of a client is served");
      const second = open("203.0.113.7");
      assert.equal(await second.line, "", "a second connection of the same client is closed unserved");
      const other = open("203.0.113.8");
      assert.ok((await other.line).startsWith("{"), "another client behind the same proxy is served");
      for (const connection of [first, second, other]) connection.socket.destroy();
    });
    assert.equal(errors.length, 1, "the refused connection is reported");
    assert.equal((errors[0].error as Error).name, "ConnectionLimitError");
    assert.deepEqual(errors[0].clientAddress, ["203.0.113.7", 40001]);
  });

  test("health checks that connect and close or reset, with or without a header, are no errors", async () => {
    for (const Server of [AsyncTCPServer, TCPServer, ThreadingTCPServer]) {
      const server = tcp({}, Server);
      const errors = recordErrors(server);
      const rejected = recordRejections(server);
      let handled = 0;
      await serving(server, async () => {
        // Connects, sends what `header` makes of the socket's own endpoints (as a proxy's check does), then resets.
        const reset = (header?: (socket: net.Socket) => string | Uint8Array) =>
          new Promise<void>((resolve) => {
            const socket = net.connect(server.serverAddress[1], "127.0.0.1", () => {
              if (header === undefined) socket.resetAndDestroy();
              else socket.write(header(socket), () => socket.resetAndDestroy());
            });
            socket.on("error", () => {});
            socket.on("close", () => resolve());
          });
        await reset();
        await talk(server.serverAddress, []);
        for (let i = 0; i < 5; i++) {
          await reset((socket) => `PROXY TCP4 127.0.0.1 127.0.0.1 ${socket.localPort} ${socket.remotePort}\r\n`);
          await reset(() => encodeProxyHeader({ version: 2, command: "LOCAL", crc32c: true }));
        }
        await sleep(100);
        // And the server still serves.
        handled = reportOf(await talk(server.serverAddress, [V1])).report.header === null ? 0 : 1;
      });
      assert.equal(handled, 1);
      assert.deepEqual(errors, [], `${Server.name}: no handler error`);
      assert.deepEqual(codesOf(rejected).filter((code) => code !== "closed"), [], Server.name);
    }
  });

  test("a refused connection is printed once by default; one closed before a header is not", async () => {
    const server = tcp({});
    const printed: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void printed.push(args.join(" "));
    try {
      await serving(server, async () => {
        await talk(server.serverAddress, []);
        await talk(server.serverAddress, ["PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"]);
        await waitFor(() => printed.length > 0, 3000, "the report");
        await sleep(50);
      });
    } finally {
      console.error = original;
    }
    assert.equal(printed.length, 1, printed.join("\n"));
    assert.match(
      printed[0],
      /^Connection from 127\.0\.0\.1:\d+ closed before its request: malformed PROXY protocol v1/,
    );
  });

  test("bad options are refused when binding, with what is allowed", async () => {
    const cases: ReadonlyArray<[unknown, RegExp]> = [
      [{ versions: ["v3"] }, /versions must be "any" or a non-empty array of "v1" and "v2"/],
      [{ versions: [] }, /versions must be/],
      [{ headerTimeout: 0 }, /headerTimeout must be a positive number/],
      [{ maxTlvBytes: 70000 }, /maxTlvBytes must be an integer 0-65535/],
      [{ trustedProxies: ["10.0.0.0/40"] }, /prefix of "10.0.0.0\/40" must be 0-32/],
      ["v1", /proxyProtocol must be an options object or null/],
    ];
    for (const [proxyProtocol, message] of cases) {
      const server = new AsyncTCPServer(["127.0.0.1", 0], StreamRequestHandler, {
        proxyProtocol: proxyProtocol as ProxyProtocolOptions,
      });
      await assert.rejects(server.listen(), message);
      assert.equal(server.closed, true);
    }
  });

  test("connectionStages() overridden: stages after the header's, synchronous or not, see it and may refuse", async () => {
    const seen: string[] = [];
    class Staged extends AsyncTCPServer {
      override proxyProtocol: ProxyProtocolOptions = { versions: ["v1"] };
      override connectionStages(): ConnectionStage[] {
        return [
          ...super.connectionStages(),
          (connection) => {
            const source = connection.proxyHeader?.source;
            if (Array.isArray(source) && source[0] === "192.0.2.66") throw new Error("banned client");
            return connection;
          },
          async (connection) => {
            await sleep(5);
            seen.push(String((connection.proxyHeader?.source as [string, number])[0]));
            return connection;
          },
        ];
      }
    }
    await serving(new Staged(["127.0.0.1", 0], ProxyReport), async (server) => {
      const rejected = recordRejections(server);
      const reply = await talk(server.serverAddress, [V1 + "hello\n"]);
      assert.deepEqual(reportOf(reply).report.client, ["203.0.113.7", 40001]);
      assert.equal(reportOf(reply).echoed, "hello\n");
      const banned = await talk(server.serverAddress, ["PROXY TCP4 192.0.2.66 198.51.100.1 40001 443\r\nhello\n"]);
      assert.equal(banned.received, "");
      assert.deepEqual(rejected.map(({ error }) => String(error)), ["Error: banned client"]);
      assert.deepEqual(seen, ["203.0.113.7"]);
    });
  });

  test("as a subclass field; and closing the server resets connections still sending their header", async () => {
    class BehindProxy extends AsyncTCPServer {
      override proxyProtocol: ProxyProtocolOptions = { versions: ["v1"], headerTimeout: 60_000 };
    }
    const server = new BehindProxy(["127.0.0.1", 0], ProxyReport);
    const rejected = recordRejections(server);
    await server.listen();
    const loop = server.serveForever();
    assert.deepEqual(reportOf(await talk(server.serverAddress, [V1])).report.client, ["203.0.113.7", 40001]);
    const waiting = talk(server.serverAddress, ["PROXY TCP4"], { keepOpen: true });
    await sleep(50);
    const started = Date.now();
    await within(5000, server.shutdown());
    await within(5000, server.serverClose());
    await loop;
    const result = await waiting;
    assert.equal(result.received, "");
    assert.ok(Date.now() - started < 3000);
    assert.deepEqual(rejected, [], "a close is no refusal");
  });
});
