/**
 * What the parent of a forking server sends with each request it hands to a child: the bytes it read already, the
 * PROXY protocol header or the options to read it with. Pure functions of the request and the server's settings.
 *
 * @module
 */
import { concatBytes } from "../concat_bytes.ts";
import type { Connection } from "../connection.ts";
import type { DatagramRequest } from "../datagram_request_handler.ts";
import type { ProxyProtocolOptions } from "../proxy/options.ts";
import { type ServeStream, toBase64 } from "./protocol.ts";

/** The `proxyProtocol` option of a stream server, as JSON data (its trusted proxies are checked in the parent). */
export function proxyProtocolOf(server: unknown): { proxyProtocol?: ProxyProtocolOptions } {
  const options = (server as { proxyProtocol?: ProxyProtocolOptions | null }).proxyProtocol;
  if (options === null || options === undefined) return {};
  const { versions, headerTimeout, maxTlvBytes } = options;
  return { proxyProtocol: { versions, headerTimeout, maxTlvBytes } };
}

/**
 * What a child needs of the PROXY protocol: the header the parent read (`runInParent()`), with the real peer, or the
 * options to read it with.
 */
export function proxyFieldsOf(
  server: unknown,
  connection: Connection,
): Pick<ServeStream, "proxyProtocol" | "proxyHeader" | "remoteAddress"> {
  const header = connection.proxyHeader;
  if (header === null) return proxyProtocolOf(server);
  return { proxyHeader: toBase64(header.raw), remoteAddress: connection.remoteAddress };
}

/** Bytes the parent read from the connection and its handler did not consume (base64), for the child to read first. */
export async function takeBuffered(connection: Connection): Promise<string> {
  const reader = connection.reader;
  const chunks: Uint8Array[] = [];
  let size = 0;
  // read1() returns at once while bytes are buffered; nothing waits here.
  while (reader.buffered > 0) {
    const chunk = await reader.read1(reader.buffered);
    chunks.push(chunk);
    size += chunk.length;
  }
  if (size === 0) return "";
  return toBase64(concatBytes(chunks, size));
}

/** True for a datagram server's request: its bytes and the socket to answer through. */
export function isDatagramRequest(request: unknown): request is DatagramRequest {
  if (request === null || typeof request !== "object") return false;
  const candidate = request as Partial<DatagramRequest>;
  return candidate.data instanceof Uint8Array && typeof candidate.socket?.send === "function";
}

/** Throws a `TypeError` unless the request and its client address can travel to a child as JSON. */
export function assertJsonData(request: unknown, clientAddress: unknown): void {
  try {
    JSON.stringify([request, clientAddress]);
  } catch (error) {
    throw new TypeError("a request handed to a child process must be JSON data", { cause: error });
  }
}
