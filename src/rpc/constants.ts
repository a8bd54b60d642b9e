/**
 * The numbers of RFC 5531: message types, reply and accept states, reject reasons, auth states and flavors.
 *
 * @module
 */

/** `msg_type`: CALL 0, REPLY 1. */
export const MSG_TYPE = { CALL: 0, REPLY: 1 } as const;

/** `reply_stat`: MSG_ACCEPTED 0, MSG_DENIED 1. */
export const REPLY_STAT = { MSG_ACCEPTED: 0, MSG_DENIED: 1 } as const;

/** `accept_stat` of an accepted reply. */
export const ACCEPT_STAT = {
  SUCCESS: 0,
  PROG_UNAVAIL: 1,
  PROG_MISMATCH: 2,
  PROC_UNAVAIL: 3,
  GARBAGE_ARGS: 4,
  SYSTEM_ERR: 5,
} as const;

/** `reject_stat` of a denied reply: RPC_MISMATCH 0, AUTH_ERROR 1. */
export const REJECT_STAT = { RPC_MISMATCH: 0, AUTH_ERROR: 1 } as const;

/** `auth_stat`: why a call's credentials or verifier were refused. */
export const AUTH_STAT = {
  AUTH_OK: 0,
  AUTH_BADCRED: 1,
  AUTH_REJECTEDCRED: 2,
  AUTH_BADVERF: 3,
  AUTH_REJECTEDVERF: 4,
  AUTH_TOOWEAK: 5,
  AUTH_INVALIDRESP: 6,
  AUTH_FAILED: 7,
  AUTH_KERB_GENERIC: 8,
  AUTH_TIMEEXPIRE: 9,
  AUTH_TKT_FILE: 10,
  AUTH_DECODE: 11,
  AUTH_NET_ADDR: 12,
  RPCSEC_GSS_CREDPROBLEM: 13,
  RPCSEC_GSS_CTXPROBLEM: 14,
} as const;

/** Authentication flavors: AUTH_NONE 0, AUTH_SYS (AUTH_UNIX) 1, AUTH_SHORT 2, AUTH_DH 3, RPCSEC_GSS 6. */
export const AUTH_FLAVOR = { AUTH_NONE: 0, AUTH_SYS: 1, AUTH_SHORT: 2, AUTH_DH: 3, RPCSEC_GSS: 6 } as const;

/** The RPC protocol version this library speaks (RFC 5531): 2. */
export const RPC_VERSION = 2;

/** Longest credential or verifier body (MAX_AUTH_BYTES of RFC 5531 and libtirpc): 400 bytes. */
export const MAX_AUTH_BYTES = 400;

/** Largest UDP payload over IPv4 (65,535 − 20 − 8): a longer reply is answered with SYSTEM_ERR. */
export const MAX_UDP_REPLY_IPV4 = 65_507;

/** Largest UDP payload over IPv6 (65,535 − 8). */
export const MAX_UDP_REPLY_IPV6 = 65_527;

/** Name of an `accept_stat` value, for messages. */
export function acceptStatName(stat: number): string {
  return nameOf(ACCEPT_STAT, stat);
}

/** Name of an `auth_stat` value, for messages. */
export function authStatName(stat: number): string {
  return nameOf(AUTH_STAT, stat);
}

function nameOf(table: Readonly<Record<string, number>>, value: number): string {
  for (const [name, number] of Object.entries(table)) if (number === value) return name;
  return `unknown (${value})`;
}
