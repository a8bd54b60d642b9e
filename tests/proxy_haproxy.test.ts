// Behind a real HAProxy (Debian's haproxy 2.6; .ci/run installs it): two backends, one fed with send-proxy (v1) and
// one with send-proxy-v2 (unique-id, crc32c), both health-checked, plus a unix-socket backend fed TCP clients and a
// tcp-check backend. Each backend sees each client's real address; checks leave no errors; stopping one backend moves
// clients to the other. Skipped, saying so, where haproxy is not installed.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import tls from "node:tls";
import { AsyncTCPServer, AsyncUnixStreamServer } from "../mod.ts";
import { ask, freePort, stopProcess, watch } from "./_balancer.ts";
import { sleep, within } from "./_helpers.ts";
import { ProxyReport } from "./proxy_handlers.ts";
import { clientOptions, SERVER } from "./_tls.ts";

/** Connects over TLS to `port` from `localAddress`, and returns the backend's report and the client's address. */
function reportOverTls(
  port: number,
  localAddress: string,
): Promise<{ report: Record<string, unknown>; address: [string, number] }> {
  return new Promise((resolve, reject) => {
    const plain = net.connect({ host: "127.0.0.1", port, localAddress });
    plain.once("error", reject);
    const socket = tls.connect({ socket: plain, ...clientOptions() });
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
      const newline = received.indexOf("\n");
      if (newline < 0) return;
      const address: [string, number] = [plain.localAddress!, plain.localPort!];
      socket.end();
      resolve({ report: JSON.parse(received.slice(0, newline)), address });
    });
    socket.on("error", reject);
  });
}

const HAVE_HAPROXY = spawnSync("haproxy", ["-v"], { stdio: "ignore" }).status === 0;

/** HAProxy's `show stat`: the status of each server, by "backend/server". */
function serverStates(statsSocket: string): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: statsSocket }, () => socket.write("show stat\n"));
    let csv = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (csv += chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const states = new Map<string, string>();
      const [head, ...rows] = csv.trim().split("\n");
      const columns = head.replace(/^# /, "").split(",");
      const status = columns.indexOf("status");
      for (const row of rows) {
        const fields = row.split(",");
        if (fields[1] !== "FRONTEND" && fields[1] !== "BACKEND") {
          states.set(`${fields[0]}/${fields[1]}`, fields[status]);
        }
      }
      resolve(states);
    });
  });
}

describe("behind a real HAProxy", { skip: HAVE_HAPROXY ? false : "haproxy is not installed" }, () => {
  test("v1 and v2 backends see each client's real address; checks leave no errors; a stopped backend's clients move", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ss-hap-"));
    const [frontPort, unixFrontPort, checkFrontPort, v1Port, v2Port, checkPort] = await Promise.all(
      Array.from({ length: 6 }, freePort),
    );
    const unixPath = join(dir, "backend.sock");
    const statsSocket = join(dir, "stats.sock");
    const v1 = new AsyncTCPServer(["127.0.0.1", v1Port], ProxyReport, {
      proxyProtocol: { versions: ["v1"], trustedProxies: ["127.0.0.1"] },
    });
    const v2 = new AsyncTCPServer(["127.0.0.1", v2Port], ProxyReport, {
      proxyProtocol: { versions: ["v2"], trustedProxies: ["127.0.0.1"] },
    });
    const unix = new AsyncUnixStreamServer(unixPath, ProxyReport, {
      proxyProtocol: { versions: ["v2"], trustedProxies: ["unix"] },
    });
    const checked = new AsyncTCPServer(["127.0.0.1", checkPort], ProxyReport, { proxyProtocol: { versions: ["v2"] } });
    const servers = [v1, v2, unix, checked];
    const watched = servers.map(watch);
    await Promise.all(servers.map((server) => server.listen()));
    const loops = servers.map((server) => server.serveForever());
    const config = join(dir, "haproxy.cfg");
    writeFileSync(
      config,
      `global
    maxconn 200
    stats socket ${statsSocket} mode 600 level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    retries 3
    option redispatch
frontend fe
    bind 127.0.0.1:${frontPort}
    bind [::1]:${frontPort}
    unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt
    default_backend be
backend be
    balance roundrobin
    server s1 127.0.0.1:${v1Port} send-proxy check inter 100 fall 1 rise 1
    server s2 127.0.0.1:${v2Port} send-proxy-v2 proxy-v2-options unique-id,crc32c check inter 100 fall 1 rise 1
frontend fe_unix
    bind 127.0.0.1:${unixFrontPort}
    default_backend be_unix
backend be_unix
    server u1 unix@${unixPath} send-proxy-v2 check inter 100
frontend fe_check
    bind 127.0.0.1:${checkFrontPort}
    default_backend be_check
backend be_check
    option tcp-check
    tcp-check connect default
    tcp-check send "ping\\n"
    tcp-check expect string ping
    server c1 127.0.0.1:${checkPort} send-proxy-v2 check inter 100
`,
    );
    let haproxy: ChildProcess | undefined;
    let output = "";
    try {
      const validity = spawnSync("haproxy", ["-c", "-f", config], { encoding: "utf8" });
      assert.equal(validity.status, 0, validity.stdout + validity.stderr);
      haproxy = spawn("haproxy", ["-f", config, "-db"], { stdio: ["ignore", "pipe", "pipe"] });
      haproxy.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
      haproxy.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
      await within(
        10000,
        (async () => {
          for (;;) {
            const states = await serverStates(statsSocket).catch(() => new Map<string, string>());
            if (["be/s1", "be/s2", "be_unix/u1", "be_check/c1"].every((name) => states.get(name) === "UP")) return;
            await sleep(100);
          }
        })(),
        "every server UP in HAProxy",
      );

      // Clients from several loopback addresses, and from ::1: each backend sees the client, not HAProxy.
      const versions = new Set<number>();
      for (let i = 2; i <= 7; i++) {
        const { report, echo, from } = await ask("127.0.0.1", frontPort, `127.0.0.${i}`);
        assert.deepEqual(report.client, from, "the client's own address and port");
        assert.deepEqual((report.peer as [string, number])[0], "127.0.0.1", "the peer is HAProxy");
        assert.equal(echo, "hello");
        versions.add(report.header!.version);
        if (report.header!.version === 2) {
          assert.match(report.header!.uniqueId!, /^[0-9A-F]{8}:[0-9A-F]{4}_/);
          assert.equal(typeof report.header!.crc32c, "number");
        }
      }
      assert.deepEqual([...versions].sort(), [1, 2], "round robin reached both backends");
      const six = await ask("::1", frontPort, "::1");
      assert.deepEqual(six.report.client, six.from);

      // A unix-socket backend fed TCP clients sees an IPv4 client.
      const viaUnix = await ask("127.0.0.1", unixFrontPort, "127.0.0.9");
      assert.deepEqual(viaUnix.report.client, viaUnix.from);
      assert.equal(viaUnix.report.peer, "");

      // Health checks for a while (every 100 ms on each server): none is a handler error or a refused header.
      await sleep(1500);
      assert.equal((await serverStates(statsSocket)).get("be_check/c1"), "UP", "tcp-check with LOCAL passes");
      watched.forEach(({ errors, rejected }, index) => {
        assert.deepEqual(errors, [], `no handler error on backend ${index}`);
        assert.deepEqual(rejected.filter(({ code }) => code !== "closed"), [], `no refused header on backend ${index}`);
      });

      // Stop the v1 backend: clients move to the v2 one.
      await v1.shutdown();
      await v1.serverClose();
      await within(
        10000,
        (async () => {
          while ((await serverStates(statsSocket)).get("be/s1") === "UP") await sleep(50);
        })(),
        "HAProxy marks s1 down",
      );
      for (let i = 2; i <= 5; i++) {
        const { report, from } = await ask("127.0.0.1", frontPort, `127.0.0.${i}`);
        assert.deepEqual(report.client, from);
        assert.equal(report.header!.version, 2, "served by the v2 backend");
      }
      watched.slice(1).forEach(({ errors }) => assert.deepEqual(errors, []));
    } catch (error) {
      console.error(`HAProxy said:\n${output}`);
      throw error;
    } finally {
      await stopProcess(haproxy, "HAProxy");
      for (const server of servers) {
        await server.shutdown();
        await server.serverClose();
      }
      await Promise.all(loops);
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("TLS passed through (mode tcp, send-proxy-v2): the TLS backend sees each client's address; checks are quiet", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ss-hap-tls-"));
    const [frontPort, backendPort] = await Promise.all([freePort(), freePort()]);
    const backend = new AsyncTCPServer(["127.0.0.1", backendPort], ProxyReport, {
      proxyProtocol: { versions: ["v2"], trustedProxies: ["127.0.0.1"] },
      tls: SERVER,
    });
    const watched = watch(backend);
    const tlsFailures: unknown[] = [];
    backend.handleTlsError = (error: Error) => void tlsFailures.push(error);
    await backend.listen();
    const loop = backend.serveForever();
    const config = join(dir, "haproxy.cfg");
    writeFileSync(
      config,
      `defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:${frontPort}
    default_backend be
backend be
    server s1 127.0.0.1:${backendPort} send-proxy-v2 check inter 100 fall 1 rise 1
`,
    );
    let haproxy: ChildProcess | undefined;
    let output = "";
    try {
      haproxy = spawn("haproxy", ["-f", config, "-db"], { stdio: ["ignore", "pipe", "pipe"] });
      haproxy.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
      haproxy.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
      for (let i = 2; i <= 4; i++) {
        const from = `127.0.0.${i}`;
        const { report, address } = await within(
          8000,
          (async () => {
            for (;;) {
              try {
                return await reportOverTls(frontPort, from);
              } catch (error) {
                // HAProxy may not listen yet.
                if ((error as { code?: string }).code !== "ECONNREFUSED") throw error;
                await sleep(100);
              }
            }
          })(),
          "a TLS client through HAProxy",
        );
        assert.deepEqual(report.client, address, "the client's own address, over TLS");
        assert.equal(report.tls, "TLSv1.3");
        assert.equal((report.peer as [string, number])[0], "127.0.0.1", "the peer is HAProxy");
      }
      // Health checks (a header, then a reset) for a while: quiet, neither handler errors nor failed handshakes.
      await sleep(600);
      assert.deepEqual(watched.errors, []);
      assert.deepEqual(watched.rejected.filter(({ code }) => code !== "closed"), []);
      assert.deepEqual(tlsFailures, []);
    } catch (error) {
      console.error(`HAProxy said:\n${output}`);
      throw error;
    } finally {
      await stopProcess(haproxy, "HAProxy");
      await backend.shutdown();
      await backend.serverClose();
      await loop;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
