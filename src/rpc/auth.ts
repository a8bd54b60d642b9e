/**
 * Credentials: AUTH_NONE and AUTH_SYS, parsed and checked as RFC 5531 sets them.
 *
 * @module
 */
import { array, string, struct } from "../xdr/composites.ts";
import { uint } from "../xdr/primitives.ts";
import { decode, encode } from "../xdr/codec.ts";
import { XdrError } from "../xdr/error.ts";
import type { XdrType } from "../xdr/type.ts";
import { AUTH_FLAVOR, MAX_AUTH_BYTES } from "./constants.ts";

/** An `opaque_auth`: a flavor and its body (at most 400 bytes). */
export interface OpaqueAuth {
  /** `AUTH_FLAVOR.AUTH_NONE`, `AUTH_FLAVOR.AUTH_SYS` … */
  readonly flavor: number;
  /** The flavor's data. */
  readonly body: Uint8Array;
}

/** The body of an AUTH_SYS (AUTH_UNIX) credential. */
export interface AuthSys {
  /** An arbitrary number the caller picks (often the time). */
  stamp: number;
  /** The caller's host name (at most 255 bytes). */
  machineName: string;
  /** The caller's effective user id. */
  uid: number;
  /** The caller's effective group id. */
  gid: number;
  /** Further groups (at most 16). */
  gids: number[];
}

/** Longest AUTH_SYS machine name: 255 bytes. */
export const MAX_MACHINE_NAME = 255;
/** Most AUTH_SYS groups: 16. */
export const MAX_AUTH_SYS_GIDS = 16;

/** `struct authsys_parms`. */
export const AUTH_SYS_PARMS: XdrType<AuthSys> = struct({
  stamp: uint(),
  machineName: string(MAX_MACHINE_NAME),
  uid: uint(),
  gid: uint(),
  gids: array(uint(), MAX_AUTH_SYS_GIDS),
});

const NO_BODY = new Uint8Array(0);

/** The AUTH_NONE credential or verifier: flavor 0, no body. */
export const AUTH_NONE: OpaqueAuth = Object.freeze({ flavor: AUTH_FLAVOR.AUTH_NONE, body: NO_BODY });

/**
 * Parses the body of an AUTH_SYS credential: every field inside the body, machine name ≤ 255 bytes, ≤ 16 groups,
 * and the body consumed exactly.
 *
 * @throws {XdrError} when the body is not a valid `authsys_parms` (the server answers AUTH_BADCRED)
 */
export function parseAuthSys(body: Uint8Array): AuthSys {
  return decode(AUTH_SYS_PARMS, body, { path: "authsys_parms" });
}

/**
 * Makes an AUTH_SYS credential, for clients.
 *
 * @example
 * ```ts
 * import { authSys } from "@sockserve/sockserve";
 *
 * const cred = authSys({ machineName: "lab1", uid: 1000, gid: 1000 });
 * ```
 */
export function authSys(parms: Partial<AuthSys> & Pick<AuthSys, "uid" | "gid">): OpaqueAuth {
  const body = encode(AUTH_SYS_PARMS, {
    stamp: parms.stamp ?? (Math.floor(Date.now() / 1000) >>> 0),
    machineName: parms.machineName ?? "localhost",
    uid: parms.uid,
    gid: parms.gid,
    gids: parms.gids ?? [],
  }, { path: "authsys_parms" });
  if (body.length > MAX_AUTH_BYTES) throw new XdrError(`credential longer than ${MAX_AUTH_BYTES} bytes`);
  return { flavor: AUTH_FLAVOR.AUTH_SYS, body: body.slice() };
}
