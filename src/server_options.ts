/**
 * The server options and the values each allows, for every server class (the mix-ins' options included): checked
 * when a server is constructed (the options given) and when it listens (the values in effect, subclass fields and
 * getters included), so that a bad value fails at once with a message naming the allowed range, before anything is
 * bound or started.
 *
 * @module
 */

/** Longest delay `setTimeout` keeps (a longer one fires at once): the bound of every option in milliseconds. */
export const MAX_MILLISECONDS = 2_147_483_647;

/** One option's check: `undefined` when `value` is allowed, otherwise what is allowed (for the message). */
interface OptionCheck {
  /** What is allowed, in words, for the message. */
  readonly allowed: string;
  /** Whether a value of the wrong type (TypeError) rather than out of range (RangeError) is at fault, or none. */
  readonly fault: (value: unknown) => "type" | "range" | undefined;
}

function milliseconds(nullable: boolean): OptionCheck {
  return {
    allowed: `${nullable ? "null or " : ""}a number of milliseconds from 0 to ${MAX_MILLISECONDS}`,
    fault: (value) => {
      if (value === null && nullable) return undefined;
      if (typeof value !== "number") return "type";
      return value >= 0 && value <= MAX_MILLISECONDS ? undefined : "range"; // NaN fails both comparisons
    },
  };
}

function integer(min: number, max: number, extra: { nullable?: boolean; infinite?: boolean } = {}): OptionCheck {
  const range = max >= Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
  const also = [extra.nullable ? "null" : "", extra.infinite ? "Infinity" : ""].filter((word) => word !== "");
  return {
    allowed: `${also.length > 0 ? `${also.join(" or ")} or ` : ""}an integer ${range}`,
    fault: (value) => {
      if (value === null && extra.nullable) return undefined;
      if (typeof value !== "number") return "type";
      if (value === Infinity && extra.infinite) return undefined;
      return Number.isInteger(value) && value >= min && value <= max ? undefined : "range";
    },
  };
}

const BOOLEAN: OptionCheck = {
  allowed: "true or false",
  fault: (value) => (typeof value === "boolean" ? undefined : "type"),
};

const OBJECT: OptionCheck = {
  allowed: "an object",
  fault: (value) => (typeof value === "object" && value !== null ? undefined : "type"),
};

const SIGNAL: OptionCheck = {
  allowed: "an AbortSignal",
  fault: (value) =>
    typeof value === "object" && value !== null && typeof (value as AbortSignal).addEventListener === "function" &&
      typeof (value as AbortSignal).aborted === "boolean"
      ? undefined
      : "type",
};

const STRINGS: OptionCheck = {
  allowed: "an array of strings",
  fault: (value) => (Array.isArray(value) && value.every((item) => typeof item === "string") ? undefined : "type"),
};

/** Every option of the library's servers, with what it allows. */
const CHECKS: Readonly<Record<string, OptionCheck>> = {
  // BaseServer
  runtime: OBJECT,
  bindAndActivate: BOOLEAN,
  timeout: milliseconds(true),
  blockOnClose: BOOLEAN,
  drainTimeout: milliseconds(true),
  signal: SIGNAL,
  // TCPServer, UDPServer
  requestQueueSize: integer(1, 65535),
  maxPacketSize: integer(1, 16 * 1024 * 1024),
  allowReuseAddress: BOOLEAN,
  allowReusePort: BOOLEAN,
  listenFd: integer(0, 2147483647, { nullable: true }),
  lineTimeout: milliseconds(true),
  idleTimeout: milliseconds(true),
  maxConnectionsPerAddress: integer(1, Number.MAX_SAFE_INTEGER, { nullable: true }),
  // AsyncMixIn
  maxConcurrentRequests: integer(1, Number.MAX_SAFE_INTEGER, { nullable: true, infinite: true }),
  // ThreadingMixIn
  maxWorkers: integer(1, 1024, { nullable: true }),
  maxRequestsPerWorker: integer(1, Number.MAX_SAFE_INTEGER, { infinite: true }),
  workerIdleTimeout: milliseconds(false),
  // ForkingMixIn
  maxChildren: integer(1, 65535),
  spareChildren: integer(0, 65535),
  requestsPerChild: integer(1, Number.MAX_SAFE_INTEGER, { infinite: true }),
  childPermissions: STRINGS,
};

function describeValue(value: unknown): string {
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (typeof value === "bigint") return `the bigint ${value}n`;
  if (Array.isArray(value)) return "an array";
  return typeof value === "function" ? "a function" : `a value of type ${typeof value}`;
}

/** Throws a TypeError (wrong type) or RangeError (out of range) when `value` is not allowed for option `name`. */
export function checkOption(name: string, value: unknown): void {
  const check = Object.hasOwn(CHECKS, name) ? CHECKS[name] : undefined;
  if (check === undefined || value === undefined) return;
  const fault = check.fault(value);
  if (fault === undefined) return;
  const message = `${name} must be ${check.allowed}, got ${describeValue(value)}`;
  throw fault === "type" ? new TypeError(message) : new RangeError(message);
}

/** Checks every option given (`undefined` means the default; options this table does not know are left alone). */
export function checkOptions(options: Readonly<Record<string, unknown>>): void {
  for (const name of Object.keys(options)) checkOption(name, options[name]);
}

/** Checks the values in effect on `server` for every option it has (fields, getters and options alike). */
export function checkSettings(server: object): void {
  const settings = server as Record<string, unknown>;
  for (const name of Object.keys(CHECKS)) {
    if (name in server) checkOption(name, settings[name]);
  }
}
