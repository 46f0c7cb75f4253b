/**
 * `notify`: webhooks the daemon calls when something about a route changes (docs/webhooks.md). Each has its own
 * secret, which signs every body it is sent (HMAC-SHA256), so a receiver can tell gotunnel's calls from anyone
 * else's. The delivery itself (queue, retries, signature) is src/daemon/webhooks/'s business.
 */
import * as v from "valibot";

/** Every event a webhook can ask for; docs/webhooks.md describes each body. */
export const WEBHOOK_EVENTS = [
  "route.up",
  "route.down",
  "upstream.down",
  "upstream.up",
  "certificate.expiring",
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/**
 * 16 characters is 96 bits even as base64 and 64 as hex: guessable secrets are what makes a signature worthless.
 * `openssl rand -hex 32` gives 256 bits.
 */
export const MIN_SECRET_LENGTH = 16;

export interface Webhook {
  url: string;
  secret: string;
  events: WebhookEvent[];
}

const URL_EXPECTS = 'expected an http(s) URL, e.g. "https://hooks.example.com/gotunnel"';
const SECRET_EXPECTS = `expected a secret of at least ${MIN_SECRET_LENGTH} characters, e.g. the output of \`openssl rand -hex 32\``;
const EVENTS_EXPECTS = `expected a list of events from ${WEBHOOK_EVENTS.join(", ")}`;

function isHttpUrl(value: string): boolean {
  if (!/^https?:\/\//i.test(value)) return false;
  try {
    new URL(value);
    return true;
  } catch {
    // Not a URL at all: the message says what is expected.
    return false;
  }
}

const webhookObject = v.object({
  url: v.pipe(v.string(URL_EXPECTS), v.check(isHttpUrl, URL_EXPECTS), v.description("Where events are POSTed.")),
  secret: v.pipe(
    v.string(SECRET_EXPECTS),
    v.minLength(MIN_SECRET_LENGTH, SECRET_EXPECTS),
    v.description("Signs each body: X-Gotunnel-Signature: sha256=<hex HMAC-SHA256 of the body with this secret>."),
  ),
  events: v.optional(
    v.pipe(
      v.array(v.picklist(WEBHOOK_EVENTS, EVENTS_EXPECTS), EVENTS_EXPECTS),
      v.minLength(1, EVENTS_EXPECTS),
      v.description("The events this webhook gets. Default: all of them."),
    ),
    () => [...WEBHOOK_EVENTS],
  ),
});

export const notifySchema = v.pipe(
  v.array(
    v.pipe(
      v.custom<v.InferInput<typeof webhookObject>>(
        (value) => typeof value === "object" && value !== null && !Array.isArray(value),
        "expected an object { url, secret, events }",
      ),
      webhookObject,
    ),
    'expected a list of webhooks, e.g. [{ url: "https://hooks.example.com/gotunnel", secret: "…", events: ["route.up"] }]',
  ),
  v.description("Webhooks called when routes and their upstreams go up or down, and before the CA expires."),
);

/** One webhook once, whichever layers listed it: the first (highest) layer's entry is kept. */
export function uniqueWebhooks(webhooks: readonly Webhook[]): Webhook[] {
  const seen = new Set<string>();
  return webhooks.filter((webhook) => {
    const key = webhookKey(webhook);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Two entries with the same URL and secret are one receiver: it gets each event once. */
export function webhookKey(webhook: Pick<Webhook, "url" | "secret">): string {
  return `${webhook.url}\n${webhook.secret}`;
}
