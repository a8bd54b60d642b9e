// TLS test helpers: the committed test-only certificates (tests/fixtures/tls: a CA, server certificates for localhost
// and other.test, clients alice and bob from that CA, mallory from another CA) and node:tls clients.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import net from "node:net";
import tls from "node:tls";
import type { SocketAddress } from "../mod.ts";
import { REPO_ROOT, within } from "./_helpers.ts";

/** The text of a fixture file. */
export function fixture(name: string): string {
  return readFileSync(join(REPO_ROOT, "tests", "fixtures", "tls", name), "utf8");
}

/** The server's certificate and key (CN=localhost, SAN localhost, 127.0.0.1, ::1). */
export const SERVER: { cert: string; key: string } = { cert: fixture("server.pem"), key: fixture("server.key") };
/** The CA that signed the server, alice and bob. */
export const CA: string = fixture("ca.pem");

/** Client options: a client that trusts the test CA and, for `as`, shows that client's certificate. */
export function clientOptions(
  as?: "alice" | "bob" | "mallory",
  extra: tls.ConnectionOptions = {},
): tls.ConnectionOptions {
  return {
    ca: CA,
    servername: "localhost",
    ...(as === undefined ? {} : { cert: fixture(`${as}.pem`), key: fixture(`${as}.key`) }),
    ...extra,
  };
}

/** Connects a TLS client and waits for its handshake; rejects with the client's error when the server refuses it. */
export function tlsConnect(
  address: SocketAddress,
  options: tls.ConnectionOptions = clientOptions(),
): Promise<tls.TLSSocket> {
  return within(
    8000,
    new Promise((resolve, reject) => {
      const target = typeof address === "string" ? { path: address } : { host: address[0], port: address[1] };
      const socket = tls.connect({ ...target, ...options });
      socket.once("secureConnect", () => resolve(socket));
      socket.once("error", reject);
    }),
    "TLS connect",
  );
}

/**
 * Sends `payload` over TLS, half-closes, and returns everything received until the server closed. (Give a payload:
 * on Deno, a client in the server's own process that resumes a session and ends at once, sending nothing, is never
 * heard ending: a quirk of Deno's node:tls with both ends in one process, not seen with a client in another process.) Rejects when the
 * handshake is refused (TLS 1.3 clients learn of a refused certificate on their first read: then this rejects too).
 */
export function tlsExchange(
  address: SocketAddress,
  payload: string,
  options: tls.ConnectionOptions = clientOptions(),
): Promise<string> {
  return within(
    8000,
    new Promise((resolve, reject) => {
      const target = typeof address === "string" ? { path: address } : { host: address[0], port: address[1] };
      const socket = tls.connect({ ...target, ...options });
      let received = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => (received += chunk));
      socket.once("secureConnect", () => socket.end(payload));
      socket.once("error", reject);
      socket.once("end", () => {
        socket.end();
        resolve(received);
      });
    }),
    "TLS exchange",
  );
}

/** Connects a plain TCP or unix client that sends nothing. */
export function silentClient(address: SocketAddress): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = typeof address === "string"
      ? net.connect({ path: address })
      : net.connect({ host: address[0], port: address[1] });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/**
 * Asserts that an exchange got nothing from a handler: the TLS client was refused (an error), or, as TLS 1.3 clients
 * may see it, the connection closed without a byte.
 */
export async function refused(exchange: Promise<string>): Promise<void> {
  const outcome = await exchange.then((received) => received, (error: Error) => error);
  if (typeof outcome === "string" && outcome !== "") {
    throw new Error(`expected a refusal, got ${JSON.stringify(outcome)}`);
  }
}
