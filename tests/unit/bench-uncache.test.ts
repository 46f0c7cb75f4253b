/**
 * The bench drops each measured target's executable from the page cache before starting it (bench/lib/proc.ts), so
 * a binary written moments ago (gotunnel's, after `bun run build`) is mapped as a long-installed one is. These check
 * which file that is for the commands the bench runs, and that a file that is not there is an error, not a skip.
 */
import { expect, test } from "bun:test";
import { programOf, uncache } from "../../bench/lib/proc.ts";

test("the program is the first word, or the one after `taskset -c CPU`, found on PATH when it is a bare name", () => {
  expect(programOf(["dist/gotunnel", "up"])).toBe("dist/gotunnel");
  expect(programOf(["taskset", "-c", "1", "/usr/sbin/nginx", "-c", "x.conf"])).toBe("/usr/sbin/nginx");
  expect(programOf(["taskset", "-c", "1", "sh", "-c", "true"])).toBe(Bun.which("sh") ?? "missing");
  expect(programOf([])).toBeUndefined();
});

test("uncache accepts a readable file and names a missing one", () => {
  expect(() => uncache(process.execPath)).not.toThrow();
  expect(() => uncache("/nonexistent/gotunnel")).toThrow(/could not drop \/nonexistent\/gotunnel from the page cache/);
});
