/**
 * The connection a child process received, with the addresses the parent saw.
 *
 * @module
 */
import type { TlsInfo } from "../tls/info.ts";
import type { SocketAddress, StreamSocket, StreamSocketEvents } from "../transport.ts";

/**
 * A stream socket handed over by the parent. It is the very socket (reads and writes go straight to the OS); only
 * its addresses come from the parent, which knew them (a unix socket received by a child cannot tell its path).
 */
export class HandedSocket implements StreamSocket {
  readonly localAddress: SocketAddress;
  readonly remoteAddress: SocketAddress;
  #socket: StreamSocket;

  /**
   * @param socket the received socket
   * @param localAddress the server's end, as the parent saw it
   * @param remoteAddress the client's end, as the parent saw it
   */
  constructor(socket: StreamSocket, localAddress: SocketAddress, remoteAddress: SocketAddress) {
    this.#socket = socket;
    this.localAddress = localAddress;
    this.remoteAddress = remoteAddress;
  }

  /** The received socket itself (what a TLS engine takes over; its own addresses may be unknown). */
  get received(): StreamSocket {
    return this.#socket;
  }

  attach(events: StreamSocketEvents): void {
    this.#socket.attach(events);
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  write(chunk: Uint8Array): boolean {
    return this.#socket.write(chunk);
  }

  closeWrite(): void {
    this.#socket.closeWrite();
  }

  close(): void {
    this.#socket.close();
  }

  abort(): void {
    this.#socket.abort();
  }

  setNoDelay(enabled: boolean): void {
    this.#socket.setNoDelay(enabled);
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  /** The received socket's TLS facts, once the child secured it. */
  get tls(): TlsInfo | null {
    return this.#socket.tls ?? null;
  }
}
