/**
 * Which peers may send a PROXY protocol header: IPv4 and IPv6 CIDRs, single addresses, and unix peers.
 *
 * @module
 */
import type { SocketAddress } from "../transport.ts";
import { parseIPv4, parseIPv6 } from "./ip.ts";

/** Tells whether a peer (the socket's remote address) is a trusted proxy. */
export type TrustedPeerTest = (peer: SocketAddress) => boolean;

interface Network {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/** The IPv4 bytes of an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), which dual-stack sockets report. */
function unmapped(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  return bytes[10] === 0xff && bytes[11] === 0xff ? bytes.subarray(12) : bytes;
}

function parseHost(text: string): Uint8Array | null {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const v4 = parseIPv4(bare);
  if (v4 !== null) return v4;
  const v6 = parseIPv6(bare.split("%", 1)[0]);
  return v6 === null ? null : unmapped(v6);
}

function contains(network: Network, bytes: Uint8Array): boolean {
  if (network.bytes.length !== bytes.length) return false;
  const whole = network.prefix >> 3;
  for (let i = 0; i < whole; i++) if (network.bytes[i] !== bytes[i]) return false;
  const bits = network.prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (network.bytes[whole] & mask) === (bytes[whole] & mask);
}

/**
 * Compiles a list of trusted proxies into a test. Each entry is one of:
 * - a CIDR: `"10.0.0.0/8"`, `"192.168.1.0/24"`, `"fd00::/8"` (IPv4-mapped IPv6 peers match IPv4 networks);
 * - a single address: `"127.0.0.1"`, `"::1"`;
 * - `"unix"`: any peer of a unix socket (the socket file's permissions decide who connects);
 * - a unix path: a peer bound to that path (most unix clients are unnamed: use `"unix"` for them).
 *
 * `null` trusts every peer.
 *
 * @example
 * ```ts
 * import { trustedProxies } from "@sockserve/sockserve";
 *
 * const trusted = trustedProxies(["10.0.0.0/8", "::1", "unix"]);
 * trusted(["10.1.2.3", 40000]); // true
 * trusted(["::ffff:10.1.2.3", 40000]); // true
 * trusted(["192.0.2.1", 40000]); // false
 * trusted(""); // true: an unnamed unix peer
 * ```
 *
 * @throws {TypeError} when the list is not an array of strings, or an entry is none of the above
 * @throws {RangeError} when a prefix length is outside 0–32 (IPv4) or 0–128 (IPv6)
 */
export function trustedProxies(entries: readonly string[] | null): TrustedPeerTest {
  if (entries === null) return () => true;
  if (!Array.isArray(entries)) {
    throw new TypeError(`trustedProxies must be an array of CIDRs, addresses or "unix", got ${typeof entries}`);
  }
  const networks: Network[] = [];
  const paths = new Set<string>();
  let anyUnix = false;
  for (const entry of entries) {
    if (typeof entry !== "string") throw new TypeError(`trustedProxies: entries are strings, got ${typeof entry}`);
    if (entry === "unix") {
      anyUnix = true;
      continue;
    }
    if (entry.startsWith("/")) {
      paths.add(entry);
      continue;
    }
    const slash = entry.indexOf("/");
    const bytes = parseHost(slash < 0 ? entry : entry.slice(0, slash));
    if (bytes === null) {
      throw new TypeError(
        `trustedProxies: ${JSON.stringify(entry)} is not a CIDR ("10.0.0.0/8", "fd00::/8"), an IP address, ` +
          `"unix" or a unix socket path`,
      );
    }
    // An IPv4-mapped IPv6 network ("::ffff:10.0.0.0/104") counts as its IPv4 network.
    const mapped = bytes.length === 4 && parseIPv4(entry.slice(0, slash < 0 ? entry.length : slash)) === null;
    const bits = mapped ? 128 : bytes.length * 8;
    let prefix = bits;
    if (slash >= 0) {
      const text = entry.slice(slash + 1);
      prefix = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
      if (!(prefix >= (mapped ? 96 : 0) && prefix <= bits)) {
        throw new RangeError(
          `trustedProxies: the prefix of ${JSON.stringify(entry)} must be ${mapped ? 96 : 0}-${bits}`,
        );
      }
    }
    if (mapped) prefix -= 96;
    networks.push({ bytes, prefix });
  }
  // Connections come from a few balancers: the last host's answer is kept, and its text not parsed again.
  let lastHost = "";
  let lastTrusted = false;
  return (peer) => {
    if (typeof peer === "string") return anyUnix || paths.has(peer);
    if (!Array.isArray(peer) || typeof peer[0] !== "string") return false;
    const host = peer[0];
    if (host === lastHost) return lastTrusted;
    const bytes = parseHost(host);
    const trusted = bytes !== null && networks.some((network) => contains(network, bytes));
    lastHost = host;
    lastTrusted = trusted;
    return trusted;
  };
}
