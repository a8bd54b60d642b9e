/**
 * RPC messages (RFC 5531 §9): calls and replies, encoded and decoded.
 *
 * @module
 */
import { copyOut } from "../byte_pool.ts";
import { XdrError } from "../xdr/error.ts";
import { XdrReader } from "../xdr/reader.ts";
import type { XdrType } from "../xdr/type.ts";
import { XdrWriter } from "../xdr/writer.ts";
import { AUTH_NONE, type OpaqueAuth } from "./auth.ts";
import { ACCEPT_STAT, MAX_AUTH_BYTES, MSG_TYPE, REJECT_STAT, REPLY_STAT, RPC_VERSION } from "./constants.ts";
import { RpcError } from "./errors.ts";

/** The header of a call, up to its arguments. */
export interface CallHeader {
  /** Transaction id: the reply carries it back. */
  readonly xid: number;
  /** RPC version asked for (2). */
  readonly rpcvers: number;
  /** Program number. */
  readonly program: number;
  /** Program version. */
  readonly version: number;
  /** Procedure number. */
  readonly procedure: number;
  /** Credential. */
  readonly cred: OpaqueAuth;
  /** Verifier. */
  readonly verf: OpaqueAuth;
}

/** What {@link parseCall} finds in a message. */
export type ParsedCall =
  /** Not a call, or too short to answer: drop it. */
  | { readonly kind: "drop"; readonly reason: string }
  /** A call of another RPC version: answer RPC_MISMATCH. */
  | { readonly kind: "mismatch"; readonly xid: number }
  /** A credential or verifier longer than 400 bytes: answer AUTH_BADCRED. */
  | { readonly kind: "badcred"; readonly xid: number }
  /** A call: its header, and where its arguments start. */
  | { readonly kind: "call"; readonly header: CallHeader; readonly argsOffset: number };

function readAuth(reader: XdrReader): OpaqueAuth | null {
  const flavor = reader.uint32();
  const length = reader.uint32();
  if (length > MAX_AUTH_BYTES) return null;
  // The usual credential and verifier: one shared frozen object, nothing made per call.
  if (length === 0 && flavor === AUTH_NONE.flavor) return AUTH_NONE;
  return { flavor, body: reader.opaque(length, "auth body") };
}

/** Parses the header of a call message; never throws. */
export function parseCall(message: Uint8Array): ParsedCall {
  return readCallHeader(new XdrReader(message));
}

/**
 * Reads the header of a call message from `reader`, leaving it at the arguments when it is a call (the dispatcher reads
 * them with the same reader: one per call); never throws.
 */
export function readCallHeader(reader: XdrReader): ParsedCall {
  if (reader.remaining < 8) return { kind: "drop", reason: `a message of ${reader.remaining} bytes` };
  const xid = reader.uint32();
  const mtype = reader.uint32();
  if (mtype !== MSG_TYPE.CALL) return { kind: "drop", reason: `message type ${mtype}, not CALL` };
  try {
    const rpcvers = reader.uint32();
    if (rpcvers !== RPC_VERSION) return { kind: "mismatch", xid };
    const program = reader.uint32();
    const version = reader.uint32();
    const procedure = reader.uint32();
    const cred = readAuth(reader);
    if (cred === null) return { kind: "badcred", xid };
    const verf = readAuth(reader);
    if (verf === null) return { kind: "badcred", xid };
    return {
      kind: "call",
      header: { xid, rpcvers, program, version, procedure, cred, verf },
      argsOffset: reader.offset,
    };
  } catch (error) {
    if (error instanceof XdrError) return { kind: "drop", reason: `call header: ${error.message}` };
    throw error;
  }
}

/** Writes the start of a message, leaving 4 bytes for a record-marking header when `framed`. */
function start(framed: boolean, capacity = 64): XdrWriter {
  const writer = new XdrWriter(capacity);
  if (framed) writer.uint32(0);
  return writer;
}

/**
 * The writer every reply is encoded in, reused: a reply is copied out of it at the end, at its exact size (into a shared
 * slab when small: `copyOut`). Replaced after a reply longer than {@link KEEP_REPLY_WRITER}, so as not to hold its memory.
 */
let replyWriter = new XdrWriter(256);
const KEEP_REPLY_WRITER = 64 * 1024;

/** Starts a reply in the shared writer, leaving 4 bytes for a record-marking header when `framed`. */
function startReply(framed: boolean): XdrWriter {
  const writer = replyWriter;
  writer.truncate(0);
  if (framed) writer.uint32(0);
  return writer;
}

/** Finishes a message: fills in the record-marking header (one last fragment) when `framed`. */
export function finishMessage(writer: XdrWriter, framed: boolean): Uint8Array {
  if (framed) writer.patchUint32(0, (0x8000_0000 | (writer.length - 4)) >>> 0);
  if (writer !== replyWriter) return writer.bytes();
  const bytes = writer.bytes();
  // A small reply goes into a shared slab: an array of its own would be one a runtime's socket write must first move
  // off the JavaScript heap (V8 keeps typed arrays of up to 64 bytes on it).
  const reply = copyOut(bytes, bytes.length);
  if (reply.length > KEEP_REPLY_WRITER) replyWriter = new XdrWriter(256);
  return reply;
}

/**
 * Starts an accepted reply with `stat` (the AUTH_NONE verifier) and returns the writer, for the results to follow. The
 * writer is shared by every reply: write the results and call {@link finishMessage} before starting another reply.
 *
 * @param framed leave room for a record-marking header (stream transports)
 */
export function acceptedReply(xid: number, stat: number, framed: boolean): XdrWriter {
  const writer = startReply(framed);
  writer.uint32(xid);
  writer.uint32(MSG_TYPE.REPLY);
  writer.uint32(REPLY_STAT.MSG_ACCEPTED);
  writer.uint32(AUTH_NONE.flavor);
  writer.uint32(0);
  writer.uint32(stat);
  return writer;
}

/** The whole reply for an {@link RpcError} (accepted with an error status, or denied). */
export function errorReply(xid: number, error: RpcError, framed: boolean): Uint8Array {
  if (error.kind === "accepted") {
    const writer = acceptedReply(xid, error.stat, framed);
    if (error.stat === ACCEPT_STAT.PROG_MISMATCH) {
      writer.uint32(error.low ?? 0);
      writer.uint32(error.high ?? 0);
    }
    return finishMessage(writer, framed);
  }
  const writer = startReply(framed);
  writer.uint32(xid);
  writer.uint32(MSG_TYPE.REPLY);
  writer.uint32(REPLY_STAT.MSG_DENIED);
  if (error.kind === "rpc-mismatch") {
    writer.uint32(REJECT_STAT.RPC_MISMATCH);
    writer.uint32(error.low ?? RPC_VERSION);
    writer.uint32(error.high ?? RPC_VERSION);
  } else {
    writer.uint32(REJECT_STAT.AUTH_ERROR);
    writer.uint32(error.stat);
  }
  return finishMessage(writer, framed);
}

function writeAuth(writer: XdrWriter, auth: OpaqueAuth): void {
  if (auth.body.length > MAX_AUTH_BYTES) throw new XdrError(`auth body longer than ${MAX_AUTH_BYTES}`);
  writer.uint32(auth.flavor);
  writer.uint32(auth.body.length);
  writer.opaque(auth.body);
}

/**
 * Encodes a call with its arguments.
 *
 * @param framed prefix a record-marking header (one fragment), for stream transports
 * @throws {XdrError} when the arguments do not fit their type
 */
export function encodeCall<A>(
  header: Omit<CallHeader, "rpcvers">,
  argsType: XdrType<A>,
  args: A,
  framed: boolean,
): Uint8Array {
  const writer = start(framed, 64 + argsType.minSize);
  writer.uint32(header.xid);
  writer.uint32(MSG_TYPE.CALL);
  writer.uint32(RPC_VERSION);
  writer.uint32(header.program);
  writer.uint32(header.version);
  writer.uint32(header.procedure);
  writeAuth(writer, header.cred);
  writeAuth(writer, header.verf);
  try {
    argsType.write(writer, args);
  } catch (error) {
    throw error instanceof XdrError ? error.within("args") : error;
  }
  return finishMessage(writer, framed);
}

/** A reply's xid, whether it is a reply at all, and its outcome. */
export type ParsedReply =
  | { readonly kind: "not-reply" }
  | { readonly kind: "success"; readonly xid: number; readonly resultsOffset: number; readonly verf: OpaqueAuth }
  | { readonly kind: "error"; readonly xid: number; readonly error: RpcError };

/**
 * Parses a reply up to its results.
 *
 * @throws {XdrError} when the reply is malformed
 */
export function parseReply(message: Uint8Array): ParsedReply {
  const reader = new XdrReader(message);
  if (message.length < 8) return { kind: "not-reply" };
  const xid = reader.uint32();
  if (reader.uint32() !== MSG_TYPE.REPLY) return { kind: "not-reply" };
  const replyStat = reader.uint32();
  if (replyStat === REPLY_STAT.MSG_ACCEPTED) {
    const verf = readAuth(reader);
    if (verf === null) throw new XdrError("reply verifier longer than 400 bytes");
    const stat = reader.uint32();
    if (stat === ACCEPT_STAT.SUCCESS) return { kind: "success", xid, resultsOffset: reader.offset, verf };
    if (stat === ACCEPT_STAT.PROG_MISMATCH) {
      const low = reader.uint32();
      const high = reader.uint32();
      return { kind: "error", xid, error: RpcError.progMismatch(low, high) };
    }
    return { kind: "error", xid, error: new RpcError("accepted", stat) };
  }
  if (replyStat !== REPLY_STAT.MSG_DENIED) throw new XdrError(`reply_stat ${replyStat} is neither accepted nor denied`);
  const rejectStat = reader.uint32();
  if (rejectStat === REJECT_STAT.RPC_MISMATCH) {
    const low = reader.uint32();
    const high = reader.uint32();
    return { kind: "error", xid, error: RpcError.rpcMismatch(low, high) };
  }
  if (rejectStat === REJECT_STAT.AUTH_ERROR) return { kind: "error", xid, error: RpcError.authError(reader.uint32()) };
  throw new XdrError(`reject_stat ${rejectStat} is neither RPC_MISMATCH nor AUTH_ERROR`);
}
