/**
 * systemd socket activation (`sd_listen_fds(3)`): the listening sockets a service manager opened for this process.
 *
 * @module
 */

/** The first descriptor systemd passes (`SD_LISTEN_FDS_START`). */
export const LISTEN_FDS_START = 3;

/**
 * The descriptors systemd (or `systemd-socket-activate`) passed to this process: `LISTEN_FDS` of them from fd 3,
 * when `LISTEN_PID` names this process; none otherwise. Give one to a server's `listenFd` option. Child processes
 * must not see these variables: the library never passes them on to its workers (they get connections or their own
 * sockets).
 *
 * @param env the process's environment variables, as the runtime gives them
 * @param pid this process's id
 * @throws {RangeError} when `LISTEN_FDS` is not a number of descriptors
 *
 * @example Serve the socket systemd opened
 * ```ts
 * import { AsyncTCPServer, listenFdsFromEnvironment, StreamRequestHandler } from "@sockserve/sockserve";
 *
 * // environment and pid: the process's environment variables and id, as the runtime gives them.
 * function serverForSystemd(environment: Record<string, string | undefined>, pid: number): AsyncTCPServer {
 *   const [fd] = listenFdsFromEnvironment(environment, pid);
 *   return new AsyncTCPServer(["", 0], StreamRequestHandler, { listenFd: fd ?? null });
 * }
 * ```
 */
export function listenFdsFromEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  pid: number,
): number[] {
  const listenPid = env.LISTEN_PID;
  const count = env.LISTEN_FDS;
  if (listenPid === undefined || count === undefined || listenPid !== String(pid)) return [];
  if (!/^\d+$/.test(count)) throw new RangeError(`LISTEN_FDS must be a number of descriptors, got ${count}`);
  return Array.from({ length: Number(count) }, (_, index) => LISTEN_FDS_START + index);
}
