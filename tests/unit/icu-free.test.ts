/**
 * The ICU-free replacements (issue 18: ICU's data stays in a process once loaded) print and order exactly as the
 * locale APIs they replace did, for the values they are given.
 */
import { expect, test } from "bun:test";
import { thousands } from "../../src/cli/style.ts";
import { compareCodeUnits } from "../../src/core/compare.ts";

test("thousands() groups digits as en-US toLocaleString does", () => {
  const samples = [0, 1, 12, 999, 1000, 1001, 9999, 10000, 65535, 100000, 999999, 1000000, 12345678, 2 ** 31];
  for (let n = 0; n < 30; n++) samples.push(Math.floor(Math.random() * 10 ** (n % 12)));
  for (const n of samples) expect(thousands(n)).toBe(n.toLocaleString("en-US"));
});

test("compareCodeUnits orders host names as localeCompare did", () => {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-.";
  const names = ["a.local", "a-b.local", "ab.local", "a0.local", "api.shop.local", "shop.local", "shop-2.local"];
  for (let i = 0; i < 200; i++) {
    const length = 1 + Math.floor(Math.random() * 12);
    let name = "";
    for (let c = 0; c < length; c++) name += alphabet[Math.floor(Math.random() * alphabet.length)];
    names.push(`${name}.local`);
  }
  expect([...names].sort(compareCodeUnits)).toEqual([...names].sort((a, b) => a.localeCompare(b)));
});
