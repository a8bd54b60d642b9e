// STARTTLS, and TLS in the threading mode: over real sockets, on TCP and unix stream.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  AsyncTCPServer,
  AsyncUnixStreamServer,
  ForkingTCPServer,
  ForkingUnixStreamServer,
  type SocketAddress,
  TCPServer,
  ThreadingTCPServer,
  ThreadingUnixStreamServer,
  type TlsOptions,
  UnixStreamServer,
} from "../mod.ts";
import { recordErrors, REPO_ROOT, serving, socketPath, waitFor, within } from "./_helpers.ts";
import { CA, clientOptions, fixture, refused, SERVER, tlsConnect, tlsExchange } from "./_tls.ts";
import { StartTlsEcho, TlsEcho } from "./tls_handlers.ts";

const tcp = (): SocketAddress => ["127.0.0.1", 0];
const unix = (): SocketAddress => socketPath("tlsm");

const KINDS = [
  { name: "TCPServer", Server: TCPServer, address: tcp },
  { name: "AsyncTCPServer", Server: AsyncTCPServer, address: tcp },
  { name: "UnixStreamServer", Server: UnixStreamServer, address: unix },
  { name: "AsyncUnixStreamServer", Server: AsyncUnixStreamServer, address: unix },
  { name: "ThreadingTCPServer", Server: ThreadingTCPServer, address: tcp },
  { name: "ThreadingUnixStreamServer", Server: ThreadingUnixStreamServer, address: unix },
  { name: "ForkingTCPServer", Server: ForkingTCPServer, address: tcp },
  { name: "ForkingUnixStreamServer", Server: ForkingUnixStreamServer, address: unix },
] as const;

// deno-lint-ignore no-explicit-any
function make(kind: (typeof KINDS)[number], Handler: any, tls: TlsOptions): any {
  // deno-lint-ignore no-explicit-any
  return new (kind.Server as any)(kind.address(), Handler, { tls });
}

const STARTTLS: TlsOptions = { ...SERVER, mode: "starttls" };

for (const kind of KINDS) {
  describe(`STARTTLS on ${kind.name}`, () => {
    test("plain lines, READY, then the same connection over TLS", async () => {
      await serving(make(kind, StartTlsEcho, STARTTLS), async (s) => {
        assert.deepEqual(await startTlsClient(s.serverAddress, "normal"), {
          lines: ["hello\n", "READY\n", "tls:secret\n"],
          outcome: "secured",
        });
      });
    });

    test("plain text pipelined after STARTTLS is never read as TLS: the upgrade fails, the server goes on", async () => {
      const s = make(kind, StartTlsEcho, STARTTLS);
      const errors = recordErrors(s);
      const forking = kind.name.startsWith("Forking");
      await serving(s, async () => {
        // Refused and closed: no READY, no TLS, and no line of the injected text comes back.
        assert.deepEqual(await startTlsClient(s.serverAddress, "inject"), { lines: ["hello\n"], outcome: "closed" });
        // A forking server's child reports its handler's error itself (on stderr) and exits with status 1.
        if (!forking) {
          await waitFor(() => errors.length === 1, 5000, "the refused upgrade reported");
          assert.equal((errors[0].error as Error).name, "StartTlsError");
          assert.match((errors[0].error as Error).message, /CVE-2011-0411/);
        }
        assert.equal((await startTlsClient(s.serverAddress, "normal")).outcome, "secured");
      });
    });

    test("setTlsOptions() reaches where handshakes run: new connections get the new certificate", async () => {
      // A client that leaves right after its handshake can keep a forking child waiting for its Finished message
      // until the handshake timeout: keep that short, so that serverClose() need not wait long for the child.
      const s = make(kind, TlsEcho, { ...SERVER, handshakeTimeout: 2000 });
      s.handleTlsError = () => {};
      await serving(s, async () => {
        const first = await tlsConnect(s.serverAddress, clientOptions());
        assert.equal(first.getPeerCertificate().subject.CN, "localhost");
        first.destroy();
        await s.setTlsOptions({ cert: fixture("other.pem"), key: fixture("other.key"), handshakeTimeout: 2000 });
        const second = await tlsConnect(s.serverAddress, clientOptions(undefined, { servername: "other.test" }));
        assert.equal(second.getPeerCertificate().subject.CN, "other.test");
        second.destroy();
      });
    });
  });
}

/** Runs the STARTTLS client in a Node process of its own (see tests/fixtures/starttls_client.mjs). */
async function startTlsClient(
  address: SocketAddress,
  mode: "normal" | "inject",
): Promise<{ lines: string[]; outcome: string }> {
  const client = spawn("node", [
    join(REPO_ROOT, "tests", "fixtures", "starttls_client.mjs"),
    JSON.stringify(address),
    join(REPO_ROOT, "tests", "fixtures", "tls", "ca.pem"),
    mode,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  client.stdout.on("data", (chunk) => (output += chunk));
  // "close", not "exit": on Deno, exit may come before the child's stdout has been read to its end.
  await within(15_000, new Promise((resolve) => client.once("close", resolve)), "the STARTTLS client");
  return JSON.parse(output);
}

for (const kind of KINDS.slice(4)) {
  describe(`TLS on ${kind.name}`, () => {
    test("the handler sees the TLS facts; mTLS refuses no certificate and another CA's", async () => {
      const s = make(kind, TlsEcho, { ...SERVER, ca: CA, alpnProtocols: ["echo/1"] });
      s.handleTlsError = () => {};
      await serving(s, async () => {
        const options = { as: "alice" as const, ALPNProtocols: ["echo/1"] };
        assert.equal(await tlsExchange(s.serverAddress, "one\n", options), "one\ntls TLSv1.3 alice echo/1\n");
        await refused(tlsExchange(s.serverAddress, "x\n"));
        await refused(tlsExchange(s.serverAddress, "x\n", { as: "mallory" }));
      });
    });

    test("setTlsOptions() reaches where handshakes run: new connections get the new certificate", async () => {
      // A client that leaves right after its handshake can keep a forking child waiting for its Finished message
      // until the handshake timeout: keep that short, so that serverClose() need not wait long for the child.
      const s = make(kind, TlsEcho, { ...SERVER, handshakeTimeout: 2000 });
      s.handleTlsError = () => {};
      await serving(s, async () => {
        const first = await tlsConnect(s.serverAddress, clientOptions());
        assert.equal(first.getPeerCertificate().subject.CN, "localhost");
        first.destroy();
        await s.setTlsOptions({ cert: fixture("other.pem"), key: fixture("other.key"), handshakeTimeout: 2000 });
        const second = await tlsConnect(s.serverAddress, clientOptions(undefined, { servername: "other.test" }));
        assert.equal(second.getPeerCertificate().subject.CN, "other.test");
        second.destroy();
      });
    });
  });
}
