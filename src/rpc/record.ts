/**
 * Record marking (RFC 5531 §11): one RPC message per record, a record in one or more fragments, each with a 4-byte
 * header (bit 31: last fragment; bits 0–30: length): the limits a stream server sets on records, and the framing of
 * outgoing messages. Incoming records are cut by `RecordFramer` (`record_framer.ts`).
 *
 * @module
 */

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

/** Bit 31 of a fragment header: the last fragment of its record. */
export const LAST_FRAGMENT = 0x8000_0000;
/** Bits 0–30 of a fragment header: the fragment's length. */
export const FRAGMENT_LENGTH = 0x7fff_ffff;

/**
 * Splits a message into fragments of at most `maxFragment` bytes, each with its header (for clients and tests that
 * send multi-fragment records).
 */
export function frameRecord(message: Uint8Array, maxFragment: number = FRAGMENT_LENGTH): Uint8Array {
  if (!Number.isInteger(maxFragment) || maxFragment < 1 || maxFragment > FRAGMENT_LENGTH) {
    throw new RangeError(`maxFragment must be 1..2^31-1, got ${maxFragment}`);
  }
  const count = Math.max(1, Math.ceil(message.length / maxFragment));
  const out = new Uint8Array(message.length + 4 * count);
  const view = new DataView(out.buffer);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const piece = message.subarray(i * maxFragment, (i + 1) * maxFragment);
    view.setUint32(at, ((i === count - 1 ? LAST_FRAGMENT : 0) | piece.length) >>> 0);
    out.set(piece, at + 4);
    at += 4 + piece.length;
  }
  return out;
}
