/**
 * The refusals both PROXY protocol versions share: a byte that starts no header, and a version the server does not
 * accept.
 *
 * @module
 */
import { ProxyProtocolError } from "./errors.ts";
import type { ProxyVersion } from "./header.ts";
import type { CheckedParseOptions } from "./parser.ts";

function versionsOf(options: CheckedParseOptions): ProxyVersion[] {
  return [...(options.v1 ? ["v1" as const] : []), ...(options.v2 ? ["v2" as const] : [])];
}

function hexOf(bytes: Uint8Array, count = 16): string {
  return Array.from(bytes.subarray(0, count), (byte) => byte.toString(16).padStart(2, "0")).join(" ");
}

export function badSignature(bytes: Uint8Array): ProxyProtocolError {
  return new ProxyProtocolError(
    "bad-signature",
    `expected a PROXY protocol header ("PROXY " for v1, 0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a for v2), got ${
      hexOf(bytes)
    }${bytes.length > 16 ? " ..." : ""}`,
  );
}

export function notAllowed(version: ProxyVersion, options: CheckedParseOptions): ProxyProtocolError {
  return new ProxyProtocolError(
    "version-not-allowed",
    `a PROXY protocol ${version} header arrived; this server accepts ${versionsOf(options).join(" and ")} only`,
  );
}
