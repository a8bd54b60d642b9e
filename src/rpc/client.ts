/**
 * `RpcClient`: calls to an ONC RPC server over TCP, UDP or a unix stream socket, with timeouts, retransmission on
 * UDP, pipelined calls on streams, and typed stubs from a program's interface.
 *
 * @module
 */
import { Connection } from "../connection.ts";
import { getDefaultRuntime } from "../default_runtime.ts";
import { SocketTimeoutError, UnsupportedError } from "../errors.ts";
import type { DatagramSocket, Runtime, SocketAddress } from "../transport.ts";
import { voidType } from "../xdr/primitives.ts";
import { XdrReader } from "../xdr/reader.ts";
import type { XdrType } from "../xdr/type.ts";
import { XdrError } from "../xdr/error.ts";
import { AUTH_NONE, type OpaqueAuth } from "./auth.ts";
import { encodeCall, parseReply } from "./message.ts";
import type { ProcedureSpec, ProgramSpec, VersionSpec } from "./program.ts";
import { RecordError } from "./errors.ts";
import { DEFAULT_MAX_RECORD_SIZE, frameRecord, type RecordLimits } from "./record.ts";
import { RecordFramer } from "./record_framer.ts";

/** Where an {@link RpcClient} connects. */
export type RpcClientTarget =
  | { readonly transport: "tcp" | "udp"; readonly host: string; readonly port: number }
  | { readonly transport: "unix"; readonly path: string };

/** Options of {@link RpcClient.connect}. */
export interface RpcClientOptions {
  /** Milliseconds a call may take in all (retransmissions included) before it fails; default 25,000 (rpcgen's). */
  timeout?: number;
  /** UDP: milliseconds between retransmissions of an unanswered call (same XID); default 1,000 (libtirpc's). */
  retransmitInterval?: number;
  /** Credential sent with every call (default AUTH_NONE); see `authSys()`. */
  cred?: OpaqueAuth;
  /** Largest reply accepted on a stream, in bytes (default 1 MiB). */
  maxRecordSize?: number;
  /** Longest fragment a call is sent in, on a stream (default 2^31−1: one fragment). */
  maxFragmentSize?: number;
  /** The runtime adapter (default: the detected one). */
  runtime?: Runtime;
}

/** Options of one call. */
export interface RpcCallOptions {
  /** This call's credential, instead of the client's. */
  cred?: OpaqueAuth;
  /** This call's timeout, instead of the client's. */
  timeout?: number;
}

/** Typed functions for every procedure of a version: `stub.ADD({ a, b })`. */
export type RpcStub<V extends VersionSpec> = {
  readonly [N in keyof V]: V[N] extends ProcedureSpec<infer A, infer R>
    ? (args: A, options?: RpcCallOptions) => Promise<R>
    : never;
};

interface Pending {
  resolve(reply: Uint8Array): void;
  reject(error: unknown): void;
}

/** How the client reaches its server: streams send records; datagrams send, and resend, datagrams. */
interface Channel {
  send(message: Uint8Array): Promise<void>;
  readonly retransmits: boolean;
  close(): Promise<void>;
}

function checkTime(value: number, what: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${what} must be a positive number of ms, got ${value}`);
  }
  return value;
}

/**
 * A client of ONC RPC servers (this library's, libtirpc's, rpcbind …). Calls on one client may overlap: each has its
 * own XID, and replies are matched by it.
 *
 * @example Calling `calc.x`'s ADD, then through a typed stub
 * ```ts ignore
 * await using client = await RpcClient.connect({ transport: "tcp", host: "127.0.0.1", port: 41001 });
 * const sum = await client.call(0x20000099, 1, 1, IntPair, { a: 2, b: 40 }, xdr.int()); // 42
 * const calc = client.stub(Calc, 1);
 * console.log(await calc.ADD({ a: 2, b: 40 }));
 * ```
 */
export class RpcClient {
  /** Where the client connects. */
  readonly target: RpcClientTarget;
  #channel: Channel;
  #pending = new Map<number, Pending>();
  #xid = (Math.random() * 0x1_0000_0000) >>> 0;
  #timeout: number;
  #retransmitInterval: number;
  #cred: OpaqueAuth;
  #maxFragmentSize: number;
  #framed: boolean;
  #closed = false;
  #failure: Error | null = null;

  private constructor(target: RpcClientTarget, channel: Channel, options: RpcClientOptions) {
    this.target = target;
    this.#channel = channel;
    this.#timeout = checkTime(options.timeout ?? 25_000, "timeout");
    this.#retransmitInterval = checkTime(options.retransmitInterval ?? 1_000, "retransmitInterval");
    this.#cred = options.cred ?? AUTH_NONE;
    this.#maxFragmentSize = options.maxFragmentSize ?? 0x7fff_ffff;
    this.#framed = !channel.retransmits;
  }

  /**
   * Connects (streams) or binds a socket of its own (UDP).
   *
   * @throws {Error} when the server cannot be reached (the runtime's error, with its `code`)
   */
  static async connect(target: RpcClientTarget, options: RpcClientOptions = {}): Promise<RpcClient> {
    const runtime = options.runtime ?? getDefaultRuntime();
    if (target.transport === "udp") {
      const resolved = await runtime.lookupHost(target.host);
      const socket = await runtime.listenDatagram({
        transport: "udp",
        hostname: resolved.family === 6 ? "::" : "0.0.0.0",
        port: 0,
        reuseAddress: false,
        reusePort: false,
        maxPacketSize: 65_535,
      });
      const server: SocketAddress = [resolved.address, target.port];
      const channel: Channel = {
        send: (message) => socket.send(message, server),
        retransmits: true,
        close: () => socket.close(),
      };
      const client = new RpcClient(target, channel, options);
      void client.#receiveDatagrams(socket);
      return client;
    }
    if (runtime.connectStream === undefined) {
      throw new UnsupportedError(`the ${runtime.name} runtime adapter cannot open connections (no connectStream)`);
    }
    const socket = await runtime.connectStream(
      target.transport === "unix"
        ? { transport: "unix", path: target.path }
        : { transport: "tcp", hostname: target.host, port: target.port },
    );
    const connection = new Connection(socket);
    connection.setNoDelay(true);
    const channel: Channel = {
      send: (message) => connection.sendAll(message),
      retransmits: false,
      close: () => {
        connection.close();
        return connection.whenClosed;
      },
    };
    const client = new RpcClient(target, channel, options);
    void client.#receiveRecords(connection, {
      maxRecordSize: options.maxRecordSize ?? DEFAULT_MAX_RECORD_SIZE,
      maxFragments: Number.MAX_SAFE_INTEGER,
      idleTimeout: null,
      recordTimeout: null,
    });
    return client;
  }

  async #receiveRecords(connection: Connection, limits: RecordLimits): Promise<void> {
    const framer = new RecordFramer(limits);
    try {
      for (;;) {
        const chunk = await connection.reader.read1();
        if (chunk.length === 0) {
          if (framer.holding) throw new RecordError("the connection ended inside a record");
          break;
        }
        framer.push(chunk);
        for (let record = framer.next(); record !== undefined; record = framer.next()) this.#deliver(record);
      }
      this.#fail(new Error("the server closed the connection"));
    } catch (error) {
      connection.abort();
      this.#fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  async #receiveDatagrams(socket: DatagramSocket): Promise<void> {
    for (;;) {
      const datagram = await socket.receive();
      if (datagram === null) return;
      this.#deliver(datagram.data);
    }
  }

  #deliver(message: Uint8Array): void {
    if (message.length < 8) return;
    const xid = new DataView(message.buffer, message.byteOffset, message.byteLength).getUint32(0);
    const pending = this.#pending.get(xid);
    // A late reply to a call that timed out, or a duplicate: nobody waits for it.
    if (pending !== undefined) pending.resolve(message);
  }

  /** Fails every call in flight, and later ones, with `error`. */
  #fail(error: Error): void {
    this.#failure ??= error;
    for (const pending of [...this.#pending.values()]) pending.reject(this.#failure);
  }

  /**
   * Calls a procedure and returns its decoded result.
   *
   * @throws {RpcError} when the server answered with an error reply (PROG_UNAVAIL, AUTH_ERROR …)
   * @throws {SocketTimeoutError} when no reply came within the timeout
   * @throws {XdrError} when the arguments do not fit `argsType`, or the results do not decode as `resultType`
   */
  async call<A, R>(
    program: number,
    version: number,
    procedure: number,
    argsType: XdrType<A>,
    args: A,
    resultType: XdrType<R>,
    options: RpcCallOptions = {},
  ): Promise<R> {
    if (this.#closed) throw new Error("the RPC client is closed");
    if (this.#failure !== null) throw this.#failure;
    const xid = this.#xid = (this.#xid + 1) >>> 0;
    const header = { xid, program, version, procedure, cred: options.cred ?? this.#cred, verf: AUTH_NONE };
    let message = encodeCall(header, argsType, args, false);
    if (this.#framed) message = frameRecord(message, this.#maxFragmentSize);
    const timeout = checkTime(options.timeout ?? this.#timeout, "timeout");
    const reply = await new Promise<Uint8Array>((resolve, reject) => {
      let retransmit: ReturnType<typeof setInterval> | undefined;
      const done = () => {
        clearTimeout(timer);
        clearInterval(retransmit);
        this.#pending.delete(xid);
      };
      const timer = setTimeout(() => {
        done();
        reject(new SocketTimeoutError(timeout));
      }, timeout);
      this.#pending.set(xid, {
        resolve: (bytes) => {
          done();
          resolve(bytes);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      });
      const send = () => this.#channel.send(message).catch((error) => this.#pending.get(xid)?.reject(error));
      void send();
      if (this.#channel.retransmits) retransmit = setInterval(send, this.#retransmitInterval);
    });
    const parsed = parseReply(reply);
    if (parsed.kind === "not-reply") throw new XdrError("the answer is not a reply message");
    if (parsed.kind === "error") throw parsed.error;
    const reader = new XdrReader(reply, parsed.resultsOffset);
    let result: R;
    try {
      result = resultType.read(reader);
    } catch (error) {
      throw error instanceof XdrError ? error.within("result") : error;
    }
    if (reader.remaining > 0) throw new XdrError(`${reader.remaining} bytes left over after the result`);
    return result;
  }

  /**
   * Calls procedure 0 (NULL) of a program version: resolves when the server serves it.
   *
   * @throws {RpcError} PROG_UNAVAIL or PROG_MISMATCH when it does not
   */
  ping(program: number, version: number, options?: RpcCallOptions): Promise<void> {
    const none = voidType();
    return this.call(program, version, 0, none, undefined, none, options);
  }

  /**
   * Typed functions for the procedures of one version of a program's interface.
   *
   * @example
   * ```ts ignore
   * const calc = client.stub(Calc, 1);
   * const sum: number = await calc.ADD({ a: 2, b: 40 });
   * ```
   */
  stub<const P extends ProgramSpec, V extends keyof P["versions"] & number>(
    spec: P,
    version: V,
  ): RpcStub<P["versions"][V]> {
    const procedures = spec.versions[version];
    if (procedures === undefined) throw new RangeError(`${spec.name} has no version ${version}`);
    const stub: Record<string, unknown> = {};
    for (const [name, procedure] of Object.entries(procedures)) {
      stub[name] = (args: unknown, options?: RpcCallOptions) =>
        this.call(spec.number, version, procedure.proc, procedure.args, args, procedure.result, options);
    }
    return stub as RpcStub<P["versions"][V]>;
  }

  /** Closes the client; calls in flight fail. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(new Error("the RPC client is closed"));
    await this.#channel.close();
  }

  /** Closes the client (`await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
