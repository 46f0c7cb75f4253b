/**
 * The hosts block as pure text: hand-written fixtures for every shape of file we expect to meet, checked to the byte.
 */
import { describe, expect, test } from "bun:test";
import { GotunnelError } from "../../src/core/errors.ts";
import {
  namesInBlock,
  parseHostsFile,
  planHostsNames,
  renderHosts,
  SKIP_REASON_TEXT,
  withNames,
} from "../../src/hosts/block.ts";

/** The block gotunnel writes for `names` (already sorted), with `eol`. */
function block(names: string[], eol = "\n", addresses = ["127.0.0.1", "::1"]): string {
  const entries = names.flatMap((name) => addresses.map((address) => `${address} ${name}`));
  return ["# gotunnel-start", ...entries, "# gotunnel-end"].map((line) => line + eol).join("");
}

function rejection(names: string[]): GotunnelError {
  try {
    withNames("127.0.0.1 localhost\n", names);
  } catch (error) {
    if (error instanceof GotunnelError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(names)} to be rejected`);
}

const DEBIAN =
  "127.0.0.1\tlocalhost\n127.0.1.1\tvm\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\n";

describe("adding a block to a file without one, then removing it", () => {
  const fixtures: [string, string, string][] = [
    ["empty file", "", block(["myapp.local"])],
    ["Debian default", DEBIAN, DEBIAN + block(["myapp.local"])],
    [
      "CRLF (Windows)",
      "127.0.0.1 localhost\r\n# comment\r\n",
      `127.0.0.1 localhost\r\n# comment\r\n${block(["myapp.local"], "\r\n")}`,
    ],
    // The block goes before an unterminated last line, so that line's bytes (and the missing newline) stay as they are.
    ["no final newline", "# hosts\n127.0.0.1 localhost", `# hosts\n${block(["myapp.local"])}127.0.0.1 localhost`],
    ["single line, no newline", "127.0.0.1 localhost", `${block(["myapp.local"])}127.0.0.1 localhost`],
    ["CRLF, no final newline", "a\r\nb", `a\r\n${block(["myapp.local"], "\r\n")}b`],
    ["only blank lines", "\n\n\n", `\n\n\n${block(["myapp.local"])}`],
    [
      "tabs, unicode, trailing spaces",
      "10.0.0.1\tdb\t# base de données ☃\n  \t\n# 日本語 \n",
      `10.0.0.1\tdb\t# base de données ☃\n  \t\n# 日本語 \n${block(["myapp.local"])}`,
    ],
    ["mostly LF with one CRLF line", "a\nb\r\nc\n", `a\nb\r\nc\n${block(["myapp.local"])}`],
    ["mostly CRLF with one LF line", "a\r\nb\nc\r\n", `a\r\nb\nc\r\n${block(["myapp.local"], "\r\n")}`],
    ["lone CR at the end", "a\n\r", `a\n${block(["myapp.local"])}\r`],
    ["NUL and junk bytes", "\u0000junk\u00ff\u00fe line\n", `\u0000junk\u00ff\u00fe line\n${block(["myapp.local"])}`],
  ];
  test.each(fixtures)("%s", (_label, original, expected) => {
    const added = withNames(original, ["myapp.local"]);
    expect(added).toBe(expected);
    expect(withNames(added, ["myapp.local"])).toBe(added);
    expect(withNames(added, [])).toBe(original);
  });

  test("an empty name set leaves a file without a block untouched", () => {
    for (const [, original] of fixtures) expect(withNames(original, [])).toBe(original);
  });
});

describe("exact-name semantics", () => {
  const userLines = [
    "127.0.0.1 myapp.local.example.com",
    "10.1.2.3 api.myapp.local",
    "127.0.0.1 myapp.local # added by hand",
    "127.0.0.1\tmyapp.local",
    "#127.0.0.1 myapp.local",
    "192.168.1.9 notmyapp.local myapp.localhost",
  ].join("\n");
  const original = `${userLines}\n`;

  test("lines that mention the name outside the block are never touched, on add or remove", () => {
    const added = withNames(original, ["myapp.local"]);
    expect(added).toBe(original + block(["myapp.local"]));
    expect(withNames(added, [])).toBe(original);
    expect(namesInBlock(original)).toEqual([]);
  });
});

describe("rewriting an existing block", () => {
  const original = `# top\n${block(["old.local"])}127.0.0.1 user.local\n`;

  test("replaced where it is; the lines after it stay", () => {
    expect(withNames(original, ["new.local", "a.local"])).toBe(
      `# top\n${block(["a.local", "new.local"])}127.0.0.1 user.local\n`,
    );
  });

  test("an empty set removes it entirely", () => {
    expect(withNames(original, [])).toBe("# top\n127.0.0.1 user.local\n");
  });

  test("already exact: the same bytes back", () => {
    expect(withNames(original, ["old.local"])).toBe(original);
  });

  test("the block keeps the file's CRLF even if it was written with LF", () => {
    const mixed = `a\r\nb\r\n${block(["x.local"])}c\r\n`;
    expect(withNames(mixed, ["x.local"])).toBe(`a\r\nb\r\n${block(["x.local"], "\r\n")}c\r\n`);
  });

  test("a block at the end with no final newline gets its newline back (those bytes are ours)", () => {
    const text = "a\n# gotunnel-start\n127.0.0.1 x.local\n# gotunnel-end";
    expect(withNames(text, ["x.local"])).toBe(`a\n${block(["x.local"])}`);
    expect(withNames(text, [])).toBe("a\n");
  });

  test("entries written with other addresses are still ours", () => {
    const custom = `a\n${block(["x.local"], "\n", ["192.168.1.20"])}`;
    expect(namesInBlock(custom)).toEqual(["x.local"]);
    expect(withNames(custom, [])).toBe("a\n");
  });
});

describe("idempotence and order", () => {
  test("order and duplicates of the input do not change the bytes", () => {
    const one = withNames(DEBIAN, ["b.local", "a.local", "c.test"]);
    const two = withNames(DEBIAN, ["c.test", "a.local", "b.local", "a.local"]);
    expect(two).toBe(one);
    expect(one).toBe(DEBIAN + block(["a.local", "b.local", "c.test"]));
  });

  test("names are normalized the way routes are (case, IDN, bare name)", () => {
    expect(namesInBlock(withNames("", ["MyApp.Local", "bücher.local", "demo"]))).toEqual([
      "demo.local",
      "myapp.local",
      "xn--bcher-kva.local",
    ]);
  });

  test("addresses option: one line per address per name", () => {
    expect(withNames("", ["a.local"], { addresses: ["127.0.0.1"] })).toBe(block(["a.local"], "\n", ["127.0.0.1"]));
    expect(() => withNames("", ["a.local"], { addresses: ["localhost"] })).toThrow(RangeError);
    expect(() => withNames("", ["a.local"], { addresses: [] })).toThrow(RangeError);
  });

  test("defaultEol decides only when the file has no majority", () => {
    expect(withNames("", ["a.local"], { defaultEol: "\r\n" })).toBe(block(["a.local"], "\r\n"));
    expect(withNames("a\r\nb\n", ["a.local"], { defaultEol: "\r\n" })).toBe(`a\r\nb\n${block(["a.local"], "\r\n")}`);
    expect(withNames("a\nb\n", ["a.local"], { defaultEol: "\r\n" })).toBe(`a\nb\n${block(["a.local"])}`);
  });
});

describe("damaged files: never lose a user line", () => {
  test("a user line inside the block is kept, just below the rewritten block", () => {
    const text =
      "a\n# gotunnel-start\n127.0.0.1 x.local\n# keep me\n\n10.0.0.1 db.local db\n127.0.0.1 y.local # mine\n# gotunnel-end\nz\n";
    const kept = "# keep me\n\n10.0.0.1 db.local db\n127.0.0.1 y.local # mine\n";
    expect(namesInBlock(text)).toEqual(["x.local"]);
    expect(withNames(text, ["x.local"])).toBe(`a\n${block(["x.local"])}${kept}z\n`);
    expect(withNames(text, [])).toBe(`a\n${kept}z\n`);
  });

  test("a start marker without an end claims only the entries directly below it", () => {
    const text = "a\n# gotunnel-start\n127.0.0.1 x.local\n::1 x.local\n# user comment\n127.0.0.1 user.local\n";
    const parsed = parseHostsFile(text);
    expect(parsed.block).toEqual(["x.local"]);
    expect(parsed.issues).toEqual([
      'line 2: "# gotunnel-start" without "# gotunnel-end" (took only the entries below it)',
    ]);
    expect(withNames(text, ["x.local"])).toBe(`a\n${block(["x.local"])}# user comment\n127.0.0.1 user.local\n`);
    expect(withNames(text, [])).toBe("a\n# user comment\n127.0.0.1 user.local\n");
  });

  test("a start marker at the very end of the file", () => {
    expect(withNames("a\n# gotunnel-start", [])).toBe("a\n");
    expect(withNames("a\n# gotunnel-start\n", ["x.local"])).toBe(`a\n${block(["x.local"])}`);
  });

  test("two blocks merge into the first one's place", () => {
    const text = `a\n${block(["x.local"])}b\n${block(["y.local"])}c\n`;
    const parsed = parseHostsFile(text);
    expect(parsed.block).toEqual(["x.local", "y.local"]);
    expect(parsed.issues).toEqual(["line 7: a second gotunnel block (merged into the first)"]);
    expect(withNames(text, ["y.local", "x.local"])).toBe(`a\n${block(["x.local", "y.local"])}b\nc\n`);
    expect(withNames(text, [])).toBe("a\nb\nc\n");
  });

  test("start, start, end: the first is unterminated, the second a block", () => {
    const text = "# gotunnel-start\n127.0.0.1 x.local\n# gotunnel-start\n127.0.0.1 y.local\n# gotunnel-end\nz\n";
    expect(namesInBlock(text)).toEqual(["x.local", "y.local"]);
    expect(withNames(text, [])).toBe("z\n");
  });

  test("a stray end marker is removed", () => {
    const text = "a\n# gotunnel-end\nb\n";
    const parsed = parseHostsFile(text);
    expect(parsed.block).toBeNull();
    expect(parsed.issues).toEqual(['line 2: "# gotunnel-end" without a start marker (removed)']);
    expect(withNames(text, [])).toBe("a\nb\n");
    expect(withNames(text, ["x.local"])).toBe(`a\nb\n${block(["x.local"])}`);
  });

  test("markers indented or with trailing blanks are ours; look-alikes are not", () => {
    const lookalikes = "#gotunnel-start\n# gotunnel-start (old)\n# GOTUNNEL-START\n## gotunnel-end\n";
    expect(parseHostsFile(lookalikes).block).toBeNull();
    expect(withNames(lookalikes, [])).toBe(lookalikes);
    const indented = "  # gotunnel-start \t\n127.0.0.1 x.local\n\t# gotunnel-end\r\n";
    expect(namesInBlock(indented)).toEqual(["x.local"]);
    expect(withNames(indented, [])).toBe("");
  });

  test("non-canonical entries inside the block are the user's", () => {
    const text = "# gotunnel-start\n127.0.0.1 X.local\n127.0.0.1 *.w.local\nnot-an-ip x.local\n# gotunnel-end\n";
    expect(namesInBlock(text)).toEqual([]);
    expect(withNames(text, [])).toBe("127.0.0.1 X.local\n127.0.0.1 *.w.local\nnot-an-ip x.local\n");
  });
});

describe("parseHostsFile", () => {
  test("before / block / after / eol", () => {
    const text = `a\r\n${block(["x.local"], "\r\n")}b\r\n`;
    expect(parseHostsFile(text)).toEqual({
      before: "a\r\n",
      block: ["x.local"],
      after: "b\r\n",
      eol: "\r\n",
      issues: [],
    });
  });

  test("no block: everything is before, except an unterminated last line", () => {
    expect(parseHostsFile("a\nb\n")).toEqual({ before: "a\nb\n", block: null, after: "", eol: "\n", issues: [] });
    expect(parseHostsFile("a\nb")).toMatchObject({ before: "a\n", block: null, after: "b" });
    expect(parseHostsFile("")).toEqual({ before: "", block: null, after: "", eol: "\n", issues: [] });
  });

  test("an empty block is a block", () => {
    expect(parseHostsFile("# gotunnel-start\n# gotunnel-end\n").block).toEqual([]);
  });
});

describe("names that need no entry", () => {
  test("localhost names and wildcards are skipped and reported", () => {
    const plan = planHostsNames([
      "localhost",
      "LOCALHOST",
      "app.localhost",
      "*.localhost",
      "*.myapp.local",
      "myapp.local",
    ]);
    expect(plan.names).toEqual(["myapp.local"]);
    expect(plan.skipped).toEqual([
      { name: "localhost", reason: "localhost" },
      { name: "LOCALHOST", reason: "localhost" },
      { name: "app.localhost", reason: "localhost" },
      { name: "*.localhost", reason: "localhost" },
      { name: "*.myapp.local", reason: "wildcard" },
    ]);
    expect(SKIP_REASON_TEXT.wildcard).toContain("wildcard");
  });

  test("only skipped names: no block at all", () => {
    expect(withNames(DEBIAN, ["app.localhost", "*.w.local"])).toBe(DEBIAN);
    expect(renderHosts(`${DEBIAN}${block(["x.local"])}`, [])).toBe(DEBIAN);
  });
});

describe("invalid names are rejected before they reach the file", () => {
  test.each([
    ["a space", "my app.local"],
    ["a hash (comment)", "myapp#.local"],
    ["a newline (line injection)", "evil.local\n127.0.0.1 bank.example"],
    ["a carriage return", "evil.local\r"],
    ["a tab", "my\tapp.local"],
    ["empty", ""],
    ["leading whitespace", " myapp.local"],
    ["an underscore", "my_app.local"],
    ["a slash", "myapp.local/x"],
    ["a colon", "myapp.local:3000"],
    ["a trailing dot", "myapp.local."],
    ["a control character", "my\u0001app.local"],
  ])("%s", (_label, name) => {
    const error = rejection(["good.local", name]);
    expect(error.code).toBe("E_DOMAIN_INVALID");
    expect(error.message).toContain(JSON.stringify(name));
  });

  test("every bad name is listed in one error", () => {
    const error = rejection(["a b.local", "c#d.local"]);
    expect(error.message).toContain('"a b.local"');
    expect(error.message).toContain('"c#d.local"');
  });
});
