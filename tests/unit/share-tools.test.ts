/** What each share tool's output lines mean, and the exact command each is started with. */
import { expect, test } from "bun:test";
import { cloudflareQuickTunnel } from "../../src/share/cloudflared.ts";
import { tailscaleFunnel, tailscaleServe } from "../../src/share/tailscale.ts";

const target = { name: "myapp.local", httpsPort: 443, caPath: "/ca.pem", bridgePort: 41234 };

test("tailscale: the ts.net URL line, and the page it asks the user to visit; nothing else", () => {
  expect(tailscaleServe.parse("https://box.tail1234.ts.net/")).toEqual({
    kind: "url",
    url: "https://box.tail1234.ts.net/",
  });
  expect(tailscaleServe.parse("|-- proxy http://127.0.0.1:41234")).toEqual({ kind: "other" });
  expect(tailscaleServe.parse("Available on the internet:")).toEqual({ kind: "other" });
  expect(tailscaleFunnel.parse("         https://login.tailscale.com/f/funnel?node=n1")).toMatchObject({
    kind: "visit",
    url: "https://login.tailscale.com/f/funnel?node=n1",
  });
  expect(tailscaleServe.argv(target)).toEqual(["tailscale", "serve", "--https=443", "http://127.0.0.1:41234"]);
  expect(tailscaleFunnel.argv(target)).toEqual(["tailscale", "funnel", "--https=443", "http://127.0.0.1:41234"]);
});

test("tailscale refusals: operator permission, Funnel not allowed, port taken", () => {
  expect(tailscaleServe.refusal(["Access denied: serve config denied"], 1).hint).toContain(
    "sudo tailscale set --operator=$USER",
  );
  expect(
    tailscaleServe.refusal(["background configuration already exists, use `tailscale serve --https=443 off`"], 1).hint,
  ).toContain("tailscale serve reset");
  expect(tailscaleServe.refusal([], 1).message).toBe("tailscale exited (1) before it printed a URL: no output");
});

test("cloudflared: only the trycloudflare.com hostname, not the terms or docs links in its banner", () => {
  expect(
    cloudflareQuickTunnel.parse("2026-12-06T21:00:00Z INF |  https://quiet-river-1234.trycloudflare.com   |"),
  ).toEqual({
    kind: "url",
    url: "https://quiet-river-1234.trycloudflare.com",
  });
  expect(cloudflareQuickTunnel.parse("INF ... (https://www.cloudflare.com/website-terms/) ...")).toEqual({
    kind: "other",
  });
  expect(
    cloudflareQuickTunnel.refusal(["ERR failed to request quick Tunnel: 429 Too Many Requests"], 1).hint,
  ).toContain("wait a few minutes");
});
