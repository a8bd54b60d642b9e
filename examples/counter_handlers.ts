/**
 * The handler of `examples/shared_counter.ts`, in a module of its own so that worker threads can import it by URL
 * (importing the example itself would start another server in each worker).
 *
 * @module
 */
import { StreamRequestHandler, type ThreadingServerView } from "../handlers.ts";

/** What the handler finds in `this.server`: the server's fields, among them the shared counter. */
export type CounterServerView = ThreadingServerView & { readonly visits: Int32Array };

/** Counts each visit in memory shared by every worker and the main thread, and tells the visitor its number. */
export class CountingHandler extends StreamRequestHandler<CounterServerView> {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    // Atomics.add is one indivisible step: two workers counting at once never lose a visit.
    const number = Atomics.add(this.server.visits, 0, 1) + 1;
    await this.wfile.write(`you are visitor ${number}\n`);
  }
}
