/**
 * STARTTLS where the socket is: what `Connection.startTls()` runs in the process or thread that holds the socket.
 *
 * @module
 */
import type { Connection } from "../connection.ts";
import type { SecuredSocket, StreamSocket, TlsContext } from "../transport.ts";

/**
 * Lets `connection.startTls()` upgrade with `context`: reading stops before the answer to the upgrade command goes out
 * (the client's handshake follows it, and only TLS may read that), the answer is flushed, then the handshake runs on
 * `socket` (the runtime's own socket under the connection's).
 *
 * @param connection the plain connection
 * @param context the server's TLS settings
 * @param socket the socket TLS takes over: the connection's own, or the one it wraps
 * @param wrap puts the secured socket back in the connection's wrapper, if it has one
 * @param onFailure hears of a failed handshake before the handler does
 */
export function offerStartTls(
  connection: Connection,
  context: TlsContext,
  socket: StreamSocket,
  wrap: ((secured: StreamSocket) => StreamSocket) | null,
  onFailure: (error: Error) => void,
): void {
  connection.tlsUpgrade = async (plain, response): Promise<SecuredSocket> => {
    plain.pause();
    if (response !== null) connection.write(response);
    await connection.drained();
    let secured: SecuredSocket;
    try {
      secured = await context.secure(socket);
    } catch (error) {
      onFailure(error as Error);
      throw error;
    }
    return wrap === null ? secured : { socket: wrap(secured.socket), info: secured.info };
  };
}
