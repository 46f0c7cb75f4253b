/**
 * The app the browser benchmark loads: a Vite project of `modules` plain ES modules (the entry included), written
 * from nothing but the count, so every run and every machine loads the same bytes.
 *
 * Shape: a tree, FAN_OUT children per module in breadth-first order, so 1,500 modules are 7 levels deep. A browser
 * learns a module's imports only once it has that module, so each level costs at least one round trip; that depth,
 * not just the count, is what makes a far server slow. Each module is about MODULE_BYTES long, counts itself in
 * `globalThis.__benchRan` when it runs, and exports a value its parent uses (nothing is dead code). ES module
 * evaluation is post-order (ECMA-262 §16.2.1.5.3, InnerModuleEvaluation), so the entry's body runs after every
 * other module has: it reads the clock there and hands the result to the bench through a CDP binding.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export const FAN_OUT = 4;
/** About the size of a small component after Vite's transform; the filler makes up the difference. */
export const MODULE_BYTES = 1500;
/** The name of the CDP binding (Runtime.addBinding) the entry calls with its result. */
export const DONE_BINDING = "__benchDone";

/** What the entry reports: its clock (ms since navigation start), how many modules ran, what the page fetched. */
export interface PageResult {
  ms: number;
  ran: number;
  resources: number;
  /** Resource count per `nextHopProtocol` ("h2", "http/1.1"), the document included. */
  protocols: Record<string, number>;
  /** Resources that came from a cache (transferSize 0, W3C Resource Timing): a cold load has none. */
  cached: number;
}

/** The children of module `index` (0 is the entry) in a tree of `count` modules. */
export function childrenOf(index: number, count: number): number[] {
  const children: number[] = [];
  for (let child = index * FAN_OUT + 1; child <= index * FAN_OUT + FAN_OUT && child < count; child++) {
    children.push(child);
  }
  return children;
}

/** Levels of the tree, the entry's included: the round trips a browser needs at least to discover every module. */
export function depthOf(count: number): number {
  let depth = 0;
  for (let index = count - 1; index > 0; index = Math.floor((index - 1) / FAN_OUT)) depth++;
  return depth + 1;
}

function fileName(index: number): string {
  return `${String(index).padStart(4, "0")}.js`;
}

/** A module's path under the app's root: the entry is src/main.js, every other module is in src/m/. */
export function modulePath(index: number): string {
  return index === 0 ? "src/main.js" : `src/m/${fileName(index)}`;
}

/** Deterministic filler text: a module's own words, so that no two modules are byte-identical. */
function filler(index: number, bytes: number): string {
  const words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"];
  let text = "";
  for (let n = index; text.length < bytes; n = (n * 1103515245 + 12345) % 2 ** 31) {
    text += `${words[(n >>> 16) % words.length]} `;
  }
  return text.slice(0, bytes);
}

/** The import lines of module `index` and the expression that uses what they import. */
function importLines(index: number, count: number): { lines: string[]; sum: string } {
  const children = childrenOf(index, count);
  // The entry is src/main.js, every other module is in src/m/.
  const prefix = index === 0 ? "./m/" : "./";
  const lines = children.map((child) => `import { value as v${child} } from "${prefix}${fileName(child)}";`);
  const sum = children.length > 0 ? children.map((child) => `v${child}`).join(" + ") : "0";
  return { lines, sum };
}

function moduleSource(index: number, count: number): string {
  const { lines, sum } = importLines(index, count);
  const code = (text: string) =>
    [
      ...lines,
      `const text = "${text}";`,
      `export const value = ${index} + (${sum}) % 1000;`,
      "globalThis.__benchRan = (globalThis.__benchRan ?? 0) + 1;",
      "export function describe() { return text.length + value; }",
      "",
    ].join("\n");
  return code(filler(index, Math.max(0, MODULE_BYTES - code("").length)));
}

/** The entry: runs last (post-order evaluation), so its clock reading is the moment every module has run. */
function entrySource(count: number): string {
  const { lines, sum } = importLines(0, count);
  return `${lines.join("\n")}
const ms = performance.now();
const protocols = {};
const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")];
let cached = 0;
for (const entry of entries) {
  protocols[entry.nextHopProtocol || "unknown"] = (protocols[entry.nextHopProtocol || "unknown"] ?? 0) + 1;
  if (entry.transferSize === 0 && entry.decodedBodySize > 0) cached++;
}
const result = { ms, ran: globalThis.__benchRan ?? 0, resources: entries.length, protocols, cached, value: ${sum} };
globalThis.${DONE_BINDING}?.(JSON.stringify(result));
`;
}

function indexHtml(count: number): string {
  // The resource timing buffer holds 250 entries by default (W3C Resource Timing §4.3): room for every module.
  // An inline icon: no /favicon.ico request, whose 404 would be an error in the page's log (chromium.ts).
  return `<!doctype html>
<html>
  <head>
    <meta charset="utf-8" />
    <title>gotunnel browser bench</title>
    <link rel="icon" href="data:," />
    <script>performance.setResourceTimingBufferSize(${count * 2 + 100});</script>
  </head>
  <body>
    <script type="module" src="/src/main.js"></script>
  </body>
</html>
`;
}

/** Every file of the app, by path relative to its root. Pure: the same count gives the same bytes. */
export function appFiles(count: number): Record<string, string> {
  if (!Number.isInteger(count) || count < 2) throw new Error(`an app needs at least 2 modules, got ${count}`);
  const files: Record<string, string> = { "index.html": indexHtml(count), [modulePath(0)]: entrySource(count) };
  for (let index = 1; index < count; index++) files[modulePath(index)] = moduleSource(index, count);
  return files;
}

/** Writes the app under `root`. */
export function writeApp(root: string, count: number): void {
  for (const [path, text] of Object.entries(appFiles(count))) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}
