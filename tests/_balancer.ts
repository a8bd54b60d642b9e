// Shared by the tests behind real load balancers (HAProxy, nginx): free ports, clients from chosen addresses, and
// what a backend reports.
import type { ChildProcess } from "node:child_process";
import net from "node:net";
import { type Connection, ProxyProtocolError, type SocketAddress, type TCPServer } from "../mod.ts";
import { type AnyServer, recordErrors, within } from "./_helpers.ts";

/** Stops a balancer this test started (by its pid, with SIGTERM) and waits for it to exit. */
export async function stopProcess(child: ChildProcess | undefined, name: string): Promise<void> {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(child.pid, "SIGTERM");
  await within(5000, exited, `${name} exit`);
}

/** A port in the test range below the ephemeral one, free now. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

export interface Report {
  client: SocketAddress;
  peer: SocketAddress;
  header: { version: number; command: string; uniqueId: string | null; crc32c: number | null } | null;
}

/** Connects to `port` from `localAddress`, sends a line, returns the backend's report, the echo and our address. */
export function ask(
  host: string,
  port: number,
  localAddress: string,
): Promise<{ report: Report; echo: string; from: [string, number] }> {
  return within(
    8000,
    new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, localAddress }, () => socket.write("hello\n"));
      let received = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => {
        received += chunk;
        const lines = received.split("\n");
        if (lines.length < 3) return;
        const from: [string, number] = [socket.localAddress!, socket.localPort!];
        socket.end();
        resolve({ report: JSON.parse(lines[0]), echo: lines[1], from });
      });
      socket.on("error", reject);
      socket.on("close", () => reject(new Error(`closed after ${JSON.stringify(received)}`)));
    }),
    "a client through HAProxy",
  );
}

export interface Rejection {
  code: string;
  message: string;
}

export function watch(server: AnyServer): { errors: unknown[]; rejected: Rejection[] } {
  const errors = recordErrors(server);
  const rejected: Rejection[] = [];
  (server as TCPServer).handleRejectedConnection = (_connection: Connection, error: unknown) =>
    void rejected.push({
      code: error instanceof ProxyProtocolError ? error.code : "other",
      message: String((error as Error).message),
    });
  return { errors, rejected };
}
