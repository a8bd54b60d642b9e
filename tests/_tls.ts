// TLS test helpers: the committed test-only certificates (tests/fixtures/tls: a CA, server certificates for localhost
// and other.test, clients alice and bob from that CA, mallory from another CA) and node:tls clients.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
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

/** What the exchange client may be asked for: a client certificate, and some of node:tls's client options. */
export interface ExchangeOptions {
  as?: "alice" | "bob" | "mallory";
  servername?: string;
  ALPNProtocols?: string[];
  maxVersion?: "TLSv1.2" | "TLSv1.3";
}

/**
 * Sends `payload` over TLS, half-closes, and returns everything received until the server closed; rejects with the
 * client's error when the handshake is refused (a TLS 1.3 client may instead see the connection close without a byte).
 * The client runs in a Node process of its own (tests/fixtures/tls_exchange_client.mjs): Deno's node:tls misbehaves
 * now and then with both ends of a connection in one process.
 */
export async function tlsExchange(
  address: SocketAddress,
  payload: string,
  options: ExchangeOptions = {},
): Promise<string> {
  const client = spawn("node", [
    join(REPO_ROOT, "tests", "fixtures", "tls_exchange_client.mjs"),
    JSON.stringify(address),
    JSON.stringify(options),
    payload,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  client.stdout.on("data", (chunk) => (output += chunk));
  // "close", not "exit": on Deno, exit may come before the child's stdout has been read to its end.
  await within(15_000, new Promise((resolve) => client.once("close", resolve)), "the TLS exchange client");
  const result = JSON.parse(output) as { received: string; error?: string };
  if (result.error !== undefined) throw Object.assign(new Error(`TLS client: ${result.error}`), { code: result.error });
  return result.received;
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
