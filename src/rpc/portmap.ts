/**
 * The portmapper (RFC 1833, program 100000 version 2): its types, a client of its procedures, and the program itself
 * for {@link PortmapServer}.
 *
 * @module
 */
import { list, struct } from "../xdr/composites.ts";
import { bool, uint, voidType } from "../xdr/primitives.ts";
import type { XdrType } from "../xdr/type.ts";
import { AUTH_STAT } from "./constants.ts";
import { RpcError } from "./errors.ts";
import { defineProgram, implement, type ProcedureSpec, type RpcCallContext, type RpcProgram } from "./program.ts";
import { RpcClient, type RpcClientOptions } from "./client.ts";

/** The portmapper's program number. */
export const PMAP_PROG = 100_000;
/** The portmapper version spoken here (v3 and v4 are rpcbind's). */
export const PMAP_VERS = 2;
/** The portmapper's well-known port. */
export const PMAP_PORT = 111;
/** Protocol numbers of a mapping: TCP 6, UDP 17. */
export const IPPROTO = { TCP: 6, UDP: 17 } as const;

/** `struct mapping`: a program version served over a protocol at a port. */
export interface PmapMapping {
  /** Program number. */
  prog: number;
  /** Version number. */
  vers: number;
  /** `IPPROTO.TCP` or `IPPROTO.UDP`. */
  prot: number;
  /** The port (0 in a GETPORT answer: not registered). */
  port: number;
}

/** The XDR type of {@link PmapMapping}. */
export const PMAP_MAPPING: XdrType<PmapMapping> = struct({ prog: uint(), vers: uint(), prot: uint(), port: uint() });

/** `pmaplist`: the list DUMP returns (an optional-data chain on the wire). */
export const PMAP_LIST: XdrType<PmapMapping[]> = list(PMAP_MAPPING, 100_000);

/** The type of {@link Portmap}, written out (exported constants need one under isolated declarations). */
export interface PortmapSpec {
  /** `PMAP_PROG`. */
  readonly name: "PMAP_PROG";
  /** 100000. */
  readonly number: number;
  /** Version 2. */
  readonly versions: {
    readonly 2: {
      readonly SET: ProcedureSpec<PmapMapping, boolean>;
      readonly UNSET: ProcedureSpec<PmapMapping, boolean>;
      readonly GETPORT: ProcedureSpec<PmapMapping, number>;
      readonly DUMP: ProcedureSpec<undefined, PmapMapping[]>;
    };
  };
}

/** The portmapper's interface, version 2 (CALLIT is not offered). */
export const Portmap: PortmapSpec = defineProgram({
  name: "PMAP_PROG",
  number: PMAP_PROG,
  versions: {
    2: {
      SET: { proc: 1, args: PMAP_MAPPING, result: bool() },
      UNSET: { proc: 2, args: PMAP_MAPPING, result: bool() },
      GETPORT: { proc: 3, args: PMAP_MAPPING, result: uint() },
      DUMP: { proc: 4, args: voidType(), result: PMAP_LIST },
    },
  },
});

/** Where the portmapper is, and how long to wait for it. */
export interface PortmapperOptions {
  /** The portmapper's host (default 127.0.0.1). */
  host?: string;
  /** Its port (default 111). */
  port?: number;
  /** Milliseconds to wait for each answer (default 3,000; UDP, retransmitted every 500 ms). */
  timeout?: number;
}

/** Calls one portmapper procedure over UDP (one record per call, as rpcbind needs). */
async function withPortmapper<T>(options: PortmapperOptions, body: (client: RpcClient) => Promise<T>): Promise<T> {
  const settings: RpcClientOptions = { timeout: options.timeout ?? 3000, retransmitInterval: 500 };
  const client = await RpcClient.connect(
    { transport: "udp", host: options.host ?? "127.0.0.1", port: options.port ?? PMAP_PORT },
    settings,
  );
  try {
    return await body(client);
  } finally {
    await client.close();
  }
}

/** PMAPPROC_SET: registers a mapping; `false` when the portmapper refused (one exists already, say). */
export function pmapSet(mapping: PmapMapping, options: PortmapperOptions = {}): Promise<boolean> {
  return withPortmapper(options, (client) => client.stub(Portmap, 2).SET(mapping));
}

/** PMAPPROC_UNSET: removes the mappings of `prog` and `vers` (every protocol). */
export function pmapUnset(prog: number, vers: number, options: PortmapperOptions = {}): Promise<boolean> {
  return withPortmapper(options, (client) => client.stub(Portmap, 2).UNSET({ prog, vers, prot: 0, port: 0 }));
}

/** PMAPPROC_GETPORT: the port of a program version over a protocol, 0 when none is registered. */
export function pmapGetPort(
  prog: number,
  vers: number,
  prot: number,
  options: PortmapperOptions = {},
): Promise<number> {
  return withPortmapper(options, (client) => client.stub(Portmap, 2).GETPORT({ prog, vers, prot, port: 0 }));
}

/** PMAPPROC_DUMP: every mapping. */
export function pmapDump(options: PortmapperOptions = {}): Promise<PmapMapping[]> {
  return withPortmapper(options, (client) => client.stub(Portmap, 2).DUMP(undefined));
}

/** Whether a caller is on this machine: a loopback address or a unix socket. */
export function isLocalCaller(clientAddress: unknown): boolean {
  if (typeof clientAddress === "string") return true;
  if (!Array.isArray(clientAddress)) return false;
  const host = String(clientAddress[0]);
  return host.startsWith("127.") || host === "::1" || host.startsWith("::ffff:127.");
}

/** The mappings of a portmapper, keyed by program, version and protocol. */
export class PortmapTable {
  readonly #mappings = new Map<string, PmapMapping>();
  /** Most mappings held (default 1024): a SET beyond it is refused. */
  maxMappings = 1024;

  #key(mapping: PmapMapping): string {
    return `${mapping.prog}/${mapping.vers}/${mapping.prot}`;
  }

  /** Adds a mapping; `false` when that program, version and protocol is mapped already, or the table is full. */
  set(mapping: PmapMapping): boolean {
    const key = this.#key(mapping);
    if (this.#mappings.has(key) || this.#mappings.size >= this.maxMappings) return false;
    if (mapping.prot !== IPPROTO.TCP && mapping.prot !== IPPROTO.UDP) return false;
    this.#mappings.set(key, { ...mapping });
    return true;
  }

  /** Removes the mappings of a program version, every protocol; `false` when there were none. */
  unset(prog: number, vers: number): boolean {
    let removed = false;
    for (const prot of [IPPROTO.TCP, IPPROTO.UDP]) {
      removed = this.#mappings.delete(`${prog}/${vers}/${prot}`) || removed;
    }
    return removed;
  }

  /**
   * The port of a mapping, 0 when there is none. With no mapping of that version, the port of another version of the
   * program over the protocol, as rpcbind answers: the client then hears PROG_MISMATCH from the server itself.
   */
  getPort(prog: number, vers: number, prot: number): number {
    const exact = this.#mappings.get(`${prog}/${vers}/${prot}`);
    if (exact !== undefined) return exact.port;
    for (const mapping of this.#mappings.values()) {
      if (mapping.prog === prog && mapping.prot === prot) return mapping.port;
    }
    return 0;
  }

  /** Every mapping. */
  dump(): PmapMapping[] {
    return [...this.#mappings.values()].map((mapping) => ({ ...mapping }));
  }
}

/**
 * The portmapper program over a table: NULL, SET and UNSET (from this machine only: others get FALSE), GETPORT and
 * DUMP (over UDP from this machine only: a DUMP is a many-fold amplifier, so other callers get AUTH_TOOWEAK).
 */
export function portmapProgram(table: PortmapTable): RpcProgram {
  const local = (call: RpcCallContext) => isLocalCaller(call.clientAddress);
  return implement(Portmap, {
    2: {
      SET: (mapping, call) => local(call) && table.set(mapping),
      UNSET: (mapping, call) => local(call) && table.unset(mapping.prog, mapping.vers),
      GETPORT: (mapping) => table.getPort(mapping.prog, mapping.vers, mapping.prot),
      DUMP: (_args, call) => {
        if (call.transport === "udp" && !local(call)) throw RpcError.authError(AUTH_STAT.AUTH_TOOWEAK);
        return table.dump();
      },
    },
  });
}
