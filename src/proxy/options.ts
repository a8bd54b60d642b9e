/**
 * The `proxyProtocol` option of stream servers, and reading the header off a connection with it.
 *
 * @module
 */
import type { BufferedReader } from "../buffered_reader.ts";
import type { Connection } from "../connection.ts";
import { DeadlineQueue } from "../deadline_queue.ts";
import { SocketTimeoutError } from "../errors.ts";
import type { SocketAddress } from "../transport.ts";
import { formatAddress } from "../address.ts";
import { callbackStage, type ConnectionStage } from "../preamble.ts";
import { ProxyProtocolError } from "./errors.ts";
import type { ProxyHeader, ProxyVersion } from "./header.ts";
import { type CheckedParseOptions, checkParseOptions, endedEarly, examineWith } from "./parser.ts";
import { type TrustedPeerTest, trustedProxies } from "./trusted.ts";

/** Default of {@link ProxyProtocolOptions.headerTimeout}, in milliseconds (the spec: at least 3 s, one TCP retransmit). */
export const DEFAULT_HEADER_TIMEOUT = 3000;

/**
 * The PROXY protocol on a stream server: every connection must start with a header (it is never guessed), which is
 * read before `verifyRequest()`; `clientAddress` is then the client the header names.
 */
export interface ProxyProtocolOptions {
  /** Versions accepted: `["v1"]`, `["v2"]`, or `"any"` (default): either, but one is required. */
  readonly versions?: readonly ProxyVersion[] | "any";
  /**
   * Peers allowed to send a header (see `trustedProxies()`): CIDRs (`"10.0.0.0/8"`), addresses (`"::1"`), `"unix"`
   * for any unix-socket peer, unix paths. Other peers are closed at once. `null` (default) trusts every peer: set it
   * whenever clients can reach the server other than through the proxy, or they can claim any address.
   */
  readonly trustedProxies?: readonly string[] | null;
  /** Milliseconds a connection has to send its whole header (default 3000); then it is closed. */
  readonly headerTimeout?: number;
  /** Most bytes of v2 TLVs accepted (default 4096); a header announcing more is refused before it is read. */
  readonly maxTlvBytes?: number;
}

/** {@link ProxyProtocolOptions} checked, ready for {@link readProxyHeader}. */
export interface ProxyProtocolSettings {
  /** Versions and TLV cap. */
  readonly parse: CheckedParseOptions;
  /** Whether a peer may send a header. */
  readonly trusted: TrustedPeerTest;
  /** Milliseconds for the whole header. */
  readonly headerTimeout: number;
}

/**
 * The header deadlines of the connections reading one with the same settings (every connection of a server), all on
 * one timer: made on first use.
 */
const headerDeadlines = new WeakMap<ProxyProtocolSettings, DeadlineQueue<BufferedReader>>();

function deadlinesFor(settings: ProxyProtocolSettings): DeadlineQueue<BufferedReader> {
  let deadlines = headerDeadlines.get(settings);
  if (deadlines === undefined) {
    const timeout = settings.headerTimeout;
    deadlines = new DeadlineQueue(timeout, (reader) => reader.fail(new SocketTimeoutError(timeout)));
    headerDeadlines.set(settings, deadlines);
  }
  return deadlines;
}

/**
 * Checks the `proxyProtocol` option of a server.
 *
 * @throws {TypeError} when it is not an object, or an entry is malformed
 * @throws {RangeError} when `headerTimeout` is not a positive number of milliseconds, or `maxTlvBytes` is out of range
 */
export function checkProxyProtocol(options: ProxyProtocolOptions): ProxyProtocolSettings {
  const parse = checkParseOptions(options);
  const headerTimeout = options.headerTimeout ?? DEFAULT_HEADER_TIMEOUT;
  if (typeof headerTimeout !== "number" || !(headerTimeout > 0) || !Number.isFinite(headerTimeout)) {
    throw new RangeError(`proxyProtocol.headerTimeout must be a positive number of milliseconds, got ${headerTimeout}`);
  }
  return { parse, trusted: trustedProxies(options.trustedProxies ?? null), headerTimeout };
}

/**
 * Refuses a connection whose peer is not one of the trusted proxies. Reads nothing.
 *
 * @throws {ProxyProtocolError} `untrusted-peer`
 */
export function checkTrustedPeer(connection: Connection, settings: ProxyProtocolSettings): void {
  const peer: SocketAddress = connection.remoteAddress;
  if (settings.trusted(peer)) return;
  // No address (Node and Bun report none for a connection reset before it was accepted): a health check, gone.
  if (typeof peer !== "string" && (typeof peer[0] !== "string" || peer[0] === "")) {
    throw new ProxyProtocolError("closed", "the connection was reset before its peer's address could be read");
  }
  throw new ProxyProtocolError(
    "untrusted-peer",
    `${formatAddress(peer)} is not a trusted proxy (proxyProtocol.trustedProxies): it may not send a PROXY header`,
  );
}

/**
 * The connection stages of a stream server's `proxyProtocol` option: none without it; reading the header where the
 * connection is served (`readsHere`); only the trusted-peer check where connections are handed on unread (a forking
 * parent, whose child reads the header).
 *
 * @throws {TypeError} when the option is not an options object or null, or an entry is malformed
 * @throws {RangeError} as {@link checkProxyProtocol} does
 */
export function proxyProtocolStages(
  options: ProxyProtocolOptions | null | undefined,
  readsHere: boolean,
): ConnectionStage[] {
  if (options === null || options === undefined) return [];
  if (typeof options !== "object") {
    throw new TypeError(`proxyProtocol must be an options object or null, got ${typeof options}`);
  }
  const settings = checkProxyProtocol(options);
  if (!readsHere) return [(connection) => (checkTrustedPeer(connection, settings), connection)];
  return [
    callbackStage((connection, done) => readProxyHeaderThen(connection, settings, (error) => done(error, connection))),
  ];
}

/**
 * Reads the PROXY protocol header a connection starts with, and only it: the bytes after it stay in
 * `connection.reader`; the header is also set as `connection.proxyHeader`. Refuses an untrusted peer before reading
 * anything.
 *
 * @example A server of your own reading the header
 * ```ts ignore
 * const header = await readProxyHeader(connection, checkProxyProtocol({ versions: ["v2"] }));
 * ```
 *
 * @throws {ProxyProtocolError} when the header is invalid, late, cut short, or from an untrusted peer
 */
export function readProxyHeader(connection: Connection, settings: ProxyProtocolSettings): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    readProxyHeaderThen(
      connection,
      settings,
      (error, header) => error === undefined ? resolve(header!) : reject(error),
    );
  });
}

/**
 * {@link readProxyHeader} by callback: `done(undefined, header)` or `done(error)`, in the turn the header's last bytes
 * arrive (usually the connection's first chunk), with no promise between them and the connection's next step.
 */
export function readProxyHeaderThen(
  connection: Connection,
  settings: ProxyProtocolSettings,
  done: (error: unknown, header?: ProxyHeader) => void,
): void {
  try {
    checkTrustedPeer(connection, settings);
  } catch (error) {
    return done(error);
  }
  const reader = connection.reader;
  const savedTimeout = reader.timeout;
  // One queue's timer watches the whole header of every connection with these settings (most arrive in time).
  const deadline = deadlinesFor(settings).add(reader);
  reader.timeout = null;
  const finish = (error: unknown, header?: ProxyHeader): void => {
    deadline.cancel();
    reader.timeout = savedTimeout;
    done(error, header);
  };
  let need = 1;
  const filled = (error: unknown, buffered: number): void => {
    if (error !== undefined) {
      const timedOut = deadline.expired || error instanceof SocketTimeoutError;
      return finish(timedOut ? late(settings.headerTimeout, reader.buffered) : endedEarly(reader.buffered, error));
    }
    if (deadline.expired) return finish(late(settings.headerTimeout, buffered));
    if (buffered < need) return finish(endedEarly(buffered));
    look();
  };
  // The header is looked at where it is buffered, and only its own bytes are taken: what follows stays in the
  // reader, for the handler. Usually it arrives whole, with the first bytes of data: one wait, one look.
  const look = (): void => {
    for (;;) {
      const buffered = reader.buffered;
      if (buffered < need) return reader.fillThen(need, filled);
      let found;
      try {
        found = examineWith(reader.peek(), settings.parse);
      } catch (error) {
        return finish(error);
      }
      if ("header" in found) {
        deadline.cancel();
        reader.skip(found.length);
        const header = found.header;
        connection.proxyHeader = header;
        if (reader.buffered === 0 && isOwnConnection(header, connection)) {
          refuseReset(connection).then(() => finish(undefined, header), (error) => finish(error));
          return;
        }
        return finish(undefined, header);
      }
      // A v1 line ends at its CRLF, anywhere up to `need`: one more byte may end it.
      need = found.line ? buffered + 1 : found.need;
    }
  };
  look();
}

/**
 * Whether the header speaks of the proxy's own connection, as a load balancer's health check does: LOCAL, or (v1, and
 * v2 from some proxies) a source and destination that are the socket's own endpoints.
 */
function isOwnConnection(header: ProxyHeader, connection: Connection): boolean {
  if (header.command === "LOCAL") return true;
  return sameAddress(header.source, connection.remoteAddress) &&
    sameAddress(header.destination, connection.localAddress);
}

function sameAddress(a: SocketAddress | null, b: SocketAddress): boolean {
  if (a === null || typeof a === "string" || typeof b === "string") return a === b;
  return a[0] === b[0] && a[1] === b[1];
}

/** How long a health check's header may wait for the reset that follows it, in milliseconds (see `refuseReset`). */
const CHECK_RESET_WINDOW = 50;
/** How often that wait looks for the reset, or for bytes that make it moot. */
const CHECK_POLL = 2;

/**
 * A health check connects, sends its header and resets (HAProxy's `check` with `send-proxy`), the reset a moment
 * after the header. Waited for (up to {@link CHECK_RESET_WINDOW} ms, and only for a header that names the proxy's own
 * connection with nothing after it yet), it is refused quietly here instead of failing the handler. Bytes that
 * arrive, or a clean half-close, end the wait: the handler runs (HAProxy's tcp-check).
 */
async function refuseReset(connection: Connection): Promise<void> {
  const reader = connection.reader;
  const deadline = Date.now() + CHECK_RESET_WINDOW;
  while (!connection.closed && reader.buffered === 0 && !reader.atEnd && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, CHECK_POLL));
  }
  let reset = connection.closed;
  if (!reset && reader.atEnd) {
    // Ended: cleanly (a half-close, which the handler may answer), or by a reset, which the read rethrows.
    reset = await reader.read1(1).then(() => false, () => true);
  }
  if (reset) {
    throw new ProxyProtocolError("closed", "the proxy's own connection (a health check) closed after its header");
  }
}

function late(timeout: number, received: number): ProxyProtocolError {
  return new ProxyProtocolError(
    "timeout",
    `no complete PROXY protocol header within ${timeout} ms (proxyProtocol.headerTimeout); ${received} bytes arrived`,
  );
}
