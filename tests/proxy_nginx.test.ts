// Behind a real nginx (Debian's nginx-light with libnginx-mod-stream; `proxy_protocol on` sends v1): TCP4 and TCP6
// clients reach the backend with their own address, a unix-socket client as PROXY UNKNOWN (the socket's peer stands
// in). Skipped, saying so, where nginx or its stream module is not installed.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { AsyncTCPServer } from "../mod.ts";
import { ask, freePort, type Report, stopProcess, watch } from "./_balancer.ts";
import { sleep, within } from "./_helpers.ts";
import { ProxyReport } from "./proxy_handlers.ts";

const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";
const HAVE_NGINX = spawnSync("nginx", ["-v"], { stdio: "ignore" }).status === 0 && existsSync(STREAM_MODULE);

/** Sends a line over a unix socket and returns the backend's report. */
function askUnix(path: string): Promise<Report> {
  return within(
    8000,
    new Promise((resolve, reject) => {
      const socket = net.connect({ path }, () => socket.write("hello\n"));
      let received = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => {
        received += chunk;
        if (received.split("\n").length < 3) return;
        socket.end();
        resolve(JSON.parse(received.split("\n")[0]));
      });
      socket.on("error", reject);
    }),
    "a unix client through nginx",
  );
}

describe("behind a real nginx", { skip: HAVE_NGINX ? false : "nginx with the stream module is not installed" }, () => {
  test("proxy_protocol on: TCP4 and TCP6 clients seen with their own address, unix clients as UNKNOWN", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ss-ngx-"));
    const [frontPort, backendPort] = await Promise.all([freePort(), freePort()]);
    const frontSocket = join(dir, "fe.sock");
    const backend = new AsyncTCPServer(["127.0.0.1", backendPort], ProxyReport, {
      proxyProtocol: { versions: ["v1"], trustedProxies: ["127.0.0.1"] },
    });
    const watched = watch(backend);
    await backend.listen();
    const loop = backend.serveForever();
    const config = join(dir, "nginx.conf");
    writeFileSync(
      config,
      `load_module ${STREAM_MODULE};
daemon off;
master_process off;
pid ${join(dir, "nginx.pid")};
error_log stderr warn;
events {}
stream {
    server {
        listen 127.0.0.1:${frontPort};
        listen [::1]:${frontPort};
        listen unix:${frontSocket};
        proxy_pass 127.0.0.1:${backendPort};
        proxy_protocol on;
    }
}
`,
    );
    let nginx: ChildProcess | undefined;
    let output = "";
    try {
      const validity = spawnSync("nginx", ["-t", "-e", "stderr", "-p", dir, "-c", config], { encoding: "utf8" });
      assert.equal(validity.status, 0, validity.stdout + validity.stderr);
      nginx = spawn("nginx", ["-e", "stderr", "-p", dir, "-c", config], { stdio: ["ignore", "pipe", "pipe"] });
      nginx.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
      nginx.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
      await within(
        10000,
        (async () => {
          while (!existsSync(frontSocket)) await sleep(50);
        })(),
        "nginx listening",
      );

      for (let i = 2; i <= 5; i++) {
        const { report, echo, from } = await ask("127.0.0.1", frontPort, `127.0.0.${i}`);
        assert.deepEqual(report.client, from);
        assert.equal((report.peer as [string, number])[0], "127.0.0.1");
        assert.equal(report.header?.version, 1);
        assert.equal(echo, "hello");
      }
      const six = await ask("::1", frontPort, "::1");
      assert.deepEqual(six.report.client, six.from);
      const unix = await askUnix(frontSocket);
      assert.deepEqual(unix.client, unix.peer, "PROXY UNKNOWN: the socket's peer");
      assert.deepEqual(watched.errors, []);
      assert.deepEqual(watched.rejected, []);
    } catch (error) {
      console.error(`nginx said:\n${output}`);
      throw error;
    } finally {
      await stopProcess(nginx, "nginx");
      await backend.shutdown();
      await backend.serverClose();
      await loop;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
