/**
 * A config is a few levels deep (`routes → name → headers → value`). A value nested thousands of levels deep
 * (generated JSON, a `[[[…]]]` file, a config object that contains itself) overflows the stack of anything that
 * walks it recursively: the schema, the error preview, structured clone. So every loaded layer is measured first,
 * without recursion, and refused with a clear error instead of a "this is a bug" RangeError.
 */
import { GotunnelError } from "../core/errors.ts";

/** Far above any real config, far below where a recursive walk overflows (thousands of levels). */
export const MAX_CONFIG_DEPTH = 32;

/** True when objects/arrays in `value` nest more than `maxDepth` levels; a cycle counts as endless nesting. */
export function nestsDeeperThan(value: unknown, maxDepth: number): boolean {
  // The deepest level each object was reached at: a shared object is walked again only when reached deeper, so a
  // DAG costs at most maxDepth visits per object instead of one per path.
  const deepestSeen = new Map<object, number>();
  const pending: [unknown, number][] = [[value, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [node, depth] = next;
    if (typeof node !== "object" || node === null) continue;
    if (depth > maxDepth) return true;
    if ((deepestSeen.get(node) ?? 0) >= depth) continue;
    deepestSeen.set(node, depth);
    for (const child of Object.values(node)) pending.push([child, depth + 1]);
  }
  return false;
}

export function tooDeepError(file: string): GotunnelError {
  return new GotunnelError(
    "E_CONFIG_LOAD",
    `Could not load ${file}: it is nested too deeply (more than ${MAX_CONFIG_DEPTH} levels, or a value contains itself).`,
    {
      hint: "A gotunnel config is a few levels deep ({ routes: { name: { headers: { … } } } }): check how the file was written or generated.",
      details: { file, maxDepth: MAX_CONFIG_DEPTH },
    },
  );
}

/** A parser or walker that recursed until the stack ran out (JavaScriptCore's RangeError). */
export function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && /call stack size/i.test(error.message);
}
