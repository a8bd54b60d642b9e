/**
 * IP address literals to bytes and back, strictly, as the PROXY protocol writes them: dotted IPv4 without leading
 * zeros, IPv6 with or without `::` and an IPv4 tail; output in the canonical form of RFC 5952 (`::1`,
 * `2001:db8::1`, `::ffff:192.0.2.1`), the form the runtimes give socket addresses in.
 *
 * @module
 */

const GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** The 4 bytes of a dotted IPv4 literal, or `null` when `text` is not one (leading zeros are refused). */
export function parseIPv4(text: string): Uint8Array | null {
  const bytes = new Uint8Array(4);
  return readIPv4(text, bytes) ? bytes : null;
}

/** Whether `text` is a dotted IPv4 literal (as {@link parseIPv4} accepts), with no allocation. */
export function isIPv4(text: string): boolean {
  return readIPv4(text, SCRATCH);
}

const SCRATCH = new Uint8Array(4);

/** Reads a dotted IPv4 literal into `bytes`; by hand rather than split() and a pattern per part (every v1 header). */
function readIPv4(text: string, bytes: Uint8Array): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const code = i < text.length ? text.charCodeAt(i) : DOT; // the end closes the last part
    if (code === DOT) {
      if (digits === 0 || part === 4) return false;
      bytes[part++] = value;
      value = 0;
      digits = 0;
    } else if (code >= ZERO && code <= ZERO + 9) {
      if (digits > 0 && value === 0) return false; // a leading zero
      value = value * 10 + code - ZERO;
      digits++;
      if (value > 255) return false;
    } else return false;
  }
  return part === 4;
}

const DOT = 0x2e;
const ZERO = 0x30;

/** The 16 bytes of an IPv6 literal (no brackets, no zone), or `null` when `text` is not one. */
export function parseIPv6(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45) return null;
  let head = text;
  let tail: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(":");
  if (text.indexOf(".", lastColon) >= 0) {
    tail = parseIPv4(text.slice(lastColon + 1));
    if (tail === null) return null;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const split = (half: string): string[] | null => {
    if (half === "") return [];
    const groups = half.split(":");
    return groups.every((group) => GROUP.test(group)) ? groups : null;
  };
  const left = split(halves[0]);
  const right = halves.length === 2 ? split(halves[1]) : [];
  if (left === null || right === null) return null;
  const count = left.length + right.length;
  if (halves.length === 2 ? count > 7 : count !== 8) return null;
  const bytes = new Uint8Array(16);
  const put = (groups: string[], start: number) => {
    groups.forEach((group, index) => {
      const value = parseInt(group, 16);
      bytes[(start + index) * 2] = value >> 8;
      bytes[(start + index) * 2 + 1] = value & 0xff;
    });
  };
  put(left, 0);
  put(right, 8 - right.length);
  if (tail !== null) bytes.set(tail, 12);
  return bytes;
}

/** Dotted IPv4 text of the 4 bytes at `offset`. */
export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** RFC 5952 text of the 16 bytes at `offset`; IPv4-mapped addresses as `::ffff:a.b.c.d`. */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[offset + i * 2] << 8) | bytes[offset + i * 2 + 1]);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIPv4(bytes, offset + 12)}`;
  }
  // The longest run of two or more zero groups (the first of equal runs) becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]) => list.map((group) => group.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}
