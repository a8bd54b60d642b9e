/**
 * Record marking (RFC 5531 §11): one RPC message per record, a record in one or more fragments, each with a 4-byte
 * header (bit 31: last fragment; bits 0–30: length). Limits are checked from the headers, before buffering.
 *
 * @module
 */
import type { BufferedReader } from "../buffered_reader.ts";
import { SocketTimeoutError } from "../errors.ts";
import { RecordError } from "./errors.ts";

/** Default of {@link RecordLimits.maxRecordSize}: 1 MiB. */
export const DEFAULT_MAX_RECORD_SIZE: number = 1024 * 1024;
/** Default of {@link RecordLimits.maxFragments}: 1024. */
export const DEFAULT_MAX_FRAGMENTS = 1024;
/** Default of {@link RecordLimits.idleTimeout}: 2 minutes. */
export const DEFAULT_IDLE_TIMEOUT = 120_000;
/** Default of {@link RecordLimits.recordTimeout}: 30 s. */
export const DEFAULT_RECORD_TIMEOUT = 30_000;

/** The limits on records a stream server takes. */
export interface RecordLimits {
  /** Largest record (the sum of its fragments), in bytes. */
  readonly maxRecordSize: number;
  /** Most fragments in one record. */
  readonly maxFragments: number;
  /** Milliseconds a connection may wait between records; `null`: forever. */
  readonly idleTimeout: number | null;
  /** Milliseconds from a record's first byte to its last; `null`: no limit. */
  readonly recordTimeout: number | null;
}

/** The default limits. */
export const DEFAULT_RECORD_LIMITS: RecordLimits = Object.freeze({
  maxRecordSize: DEFAULT_MAX_RECORD_SIZE,
  maxFragments: DEFAULT_MAX_FRAGMENTS,
  idleTimeout: DEFAULT_IDLE_TIMEOUT,
  recordTimeout: DEFAULT_RECORD_TIMEOUT,
});

const LAST = 0x8000_0000;

/** Reads exactly `count` bytes with `timeout`; a short read is a record cut off. */
async function readExactly(reader: BufferedReader, count: number, timeout: number | null): Promise<Uint8Array> {
  reader.timeout = timeout;
  const bytes = await reader.read(count);
  if (bytes.length !== count) throw new RecordError(`the connection ended inside a record`);
  return bytes;
}

function headerOf(bytes: Uint8Array): number {
  return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
}

/**
 * Reads one record: `null` when the connection ends cleanly between records.
 *
 * @throws {RecordError} on a limit or a broken record (close the connection: no reply is possible)
 * @throws {SocketTimeoutError} when the connection stays idle past `idleTimeout`
 */
export async function readRecord(reader: BufferedReader, limits: RecordLimits): Promise<Uint8Array | null> {
  reader.timeout = limits.idleTimeout;
  const first = await reader.read(4);
  if (first.length === 0) return null;
  if (first.length < 4) throw new RecordError("the connection ended inside a fragment header");
  const deadline = limits.recordTimeout === null ? null : Date.now() + limits.recordTimeout;
  const left = (): number | null => {
    if (deadline === null) return null;
    const ms = deadline - Date.now();
    if (ms <= 0) throw new RecordError(`a record took longer than ${limits.recordTimeout} ms`);
    return ms;
  };
  const fragments: Uint8Array[] = [];
  let total = 0;
  let header = headerOf(first);
  try {
    for (;;) {
      const length = header & 0x7fff_ffff;
      const last = header >= LAST;
      if (length === 0 && !last) throw new RecordError("an empty fragment that is not the last");
      if (total + length > limits.maxRecordSize) {
        throw new RecordError(`a record longer than ${limits.maxRecordSize} bytes (maxRecordSize)`);
      }
      if (fragments.length === limits.maxFragments) {
        throw new RecordError(`a record in more than ${limits.maxFragments} fragments (maxFragments)`);
      }
      if (length > 0) fragments.push(await readExactly(reader, length, left()));
      total += length;
      if (last) break;
      header = headerOf(await readExactly(reader, 4, left()));
    }
  } catch (error) {
    if (error instanceof SocketTimeoutError) {
      throw new RecordError(`a record took longer than ${limits.recordTimeout} ms`);
    }
    throw error;
  } finally {
    reader.timeout = null;
  }
  if (total === 0) throw new RecordError("an empty record");
  if (fragments.length === 1) return fragments[0];
  const record = new Uint8Array(total);
  let offset = 0;
  for (const fragment of fragments) {
    record.set(fragment, offset);
    offset += fragment.length;
  }
  return record;
}

/**
 * Splits a message into fragments of at most `maxFragment` bytes, each with its header (for clients and tests that
 * send multi-fragment records).
 */
export function frameRecord(message: Uint8Array, maxFragment = 0x7fff_ffff): Uint8Array {
  if (!Number.isInteger(maxFragment) || maxFragment < 1 || maxFragment > 0x7fff_ffff) {
    throw new RangeError(`maxFragment must be 1..2^31-1, got ${maxFragment}`);
  }
  const count = Math.max(1, Math.ceil(message.length / maxFragment));
  const out = new Uint8Array(message.length + 4 * count);
  const view = new DataView(out.buffer);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const piece = message.subarray(i * maxFragment, (i + 1) * maxFragment);
    view.setUint32(at, ((i === count - 1 ? LAST : 0) | piece.length) >>> 0);
    out.set(piece, at + 4);
    at += 4 + piece.length;
  }
  return out;
}
