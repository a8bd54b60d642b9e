/**
 * Request delivery: how `serveForever()` takes requests from a socket by callback (`deliverTo`) instead of a promise
 * per request from `getRequest()`. The socket servers offer it once bound; `BaseServer` uses it.
 *
 * @module
 */
import type { BaseServer } from "./base_server.ts";

/** How `serveForever()` takes requests by callback (see {@link offerRequestDelivery}). */
export interface RequestDelivery<Request, ClientAddress> {
  /** The `getRequest()` the delivery stands in for: a server that overrides it keeps taking requests through it. */
  // deno-lint-ignore no-explicit-any
  readonly getRequest: BaseServer<Request, ClientAddress, any>["getRequest"];
  /**
   * Hands each new request to `deliver` as it arrives, in the runtime's own callback; calls `failed` when what arrived
   * could not be made a request, `ended` when the socket closes. `false` when it cannot start now (an `accept()` or
   * `receive()` is pending, or the socket is closed).
   */
  start(
    deliver: (request: Request, clientAddress: ClientAddress) => void,
    failed: (error: unknown) => void,
    ended: () => void,
  ): boolean;
  /** Stops delivering: requests wait in the socket again. */
  stop(): void;
}

/** A socket that can hand over what arrives by callback, as `StreamListener.deliverTo` and `DatagramSocket.deliverTo`. */
export interface DeliveringSource<Item> {
  /** See `StreamListener.deliverTo`. */
  deliverTo?(sink: ((item: Item | null) => void) | null): boolean;
}

/** Sets a server's {@link RequestDelivery}: installed by `BaseServer`, whose private state it reaches. */
let setDelivery: <Request, ClientAddress>(
  // deno-lint-ignore no-explicit-any
  server: BaseServer<Request, ClientAddress, any>,
  delivery: RequestDelivery<Request, ClientAddress> | undefined,
) => void;

/**
 * For socket servers, once bound: lets `serveForever()` take requests from `source` by callback, where the adapter can
 * (`deliverTo`), instead of a promise per request from `getRequest()`. `toRequest` turns what the source hands over
 * into a request and passes it on (or not: an oversized datagram is reported instead). Never used while `getRequest`
 * is overridden (the override decides where requests come from: `ownGetRequest` is the method the delivery stands in
 * for), nor when `serviceActions()` is (it runs between requests).
 */
export function offerRequestDelivery<Request, ClientAddress, Item>(
  // deno-lint-ignore no-explicit-any
  server: BaseServer<Request, ClientAddress, any>,
  source: DeliveringSource<Item>,
  // deno-lint-ignore no-explicit-any
  ownGetRequest: BaseServer<Request, ClientAddress, any>["getRequest"],
  toRequest: (item: Item, deliver: (request: Request, clientAddress: ClientAddress) => void) => void,
): void {
  const deliverTo = source.deliverTo?.bind(source);
  if (deliverTo === undefined) return setDelivery(server, undefined);
  setDelivery(server, {
    getRequest: ownGetRequest,
    start: (deliver, failed, ended) =>
      deliverTo((item) => {
        if (item === null) return ended();
        // This runs in the runtime's callback, where a throw would end the process.
        try {
          toRequest(item, deliver);
        } catch (error) {
          failed(error);
        }
      }),
    stop: () => void deliverTo(null),
  });
}

/** Called once by `BaseServer`, with the function that sets a server's delivery (its private state). */
export function installDeliverySetter(setter: typeof setDelivery): void {
  setDelivery = setter;
}
