/**
 * Finding a module next to the running one, as `.ts` source or as compiled `.js`.
 *
 * @module
 */

/**
 * The URL of the module `stem` in the same folder as `baseUrl`, with the extension `baseUrl` has. Workers and child
 * processes are started from a URL, which the TypeScript compiler does not rewrite: this picks `.ts` when the library
 * runs from source (Deno, Bun, Node with type stripping) and `.js` when it runs from the compiled `dist/` (Node 20).
 *
 * @param baseUrl `import.meta.url` of the calling module
 * @param stem the sibling's file name without its extension
 *
 * @example
 * ```ts ignore
 * siblingModuleUrl(import.meta.url, "threading_worker"); // ".../threading_worker.ts", or ".js" in dist/
 * ```
 */
export function siblingModuleUrl(baseUrl: string, stem: string): string {
  const path = new URL(baseUrl).pathname;
  const extension = /\.[cm]?[jt]sx?$/.exec(path)?.[0] ?? ".js";
  return new URL(`./${stem}${extension}`, baseUrl).href;
}
