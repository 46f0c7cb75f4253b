/**
 * A WebSocket upgrade the upstream refused, answered to the client with the upstream's own status and body: a
 * dev server's 403 to an unknown Host reaches the browser as that 403, explained when it is a framework refusal
 * (frameworks/refusals.ts), never as gotunnel's 502. Next.js writes its refusal with no status line at all; that
 * becomes the 403 Next answers the same check with over plain HTTP.
 */
import { detectRefusal } from "../frameworks/refusals.ts";
import type { BackendTarget } from "./balancer.ts";
import { pathOf } from "./forward.ts";
import { frameworkRefusalPage } from "./pages.ts";
import { FrameworkRefusal } from "./refusal.ts";
import type { ProxyRoute } from "./router.ts";
import { readUpgradeAnswer } from "./upgrade-answer.ts";

/** The status sent for an answer without a status line (Next.js 16's "Unauthorized"): what Next sends over HTTP. */
const STATUSLESS_REFUSAL_STATUS = 403;

/** The client's answer, when the upstream answered the upgrade; undefined when it did not answer at all. */
export async function refusedUpgrade(
  req: Request,
  route: ProxyRoute,
  target: BackendTarget,
  headers: Record<string, string>,
): Promise<{ response: Response; error: unknown } | undefined> {
  const path = pathOf(req.url);
  const answer = await readUpgradeAnswer(target, path, headers);
  if (answer.kind !== "answer") return undefined;
  const body = new TextDecoder().decode(answer.body);
  const refusal = detectRefusal({ status: answer.status, path, body, upgrade: true }, route.name);
  const status = answer.status === 0 ? STATUSLESS_REFUSAL_STATUS : answer.status;
  if (refusal) {
    return { response: frameworkRefusalPage(req, route, refusal, status, body), error: new FrameworkRefusal(refusal) };
  }
  const error = new Error(`the upstream refused the WebSocket upgrade with ${answer.status || "no status line"}`);
  if (answer.status === 0 || status < 200) {
    // Not HTTP, or an interim status with nothing after it: the client cannot be given that as an answer.
    return { response: new Response(answer.body, { status: 502, headers: textPlain }), error };
  }
  const responseHeaders = answer.contentType ? { "content-type": answer.contentType } : textPlain;
  return { response: new Response(answer.body, { status, headers: responseHeaders }), error };
}

const textPlain = { "content-type": "text/plain; charset=utf-8" };
