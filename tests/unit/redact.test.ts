/** core/redact.ts: URL credentials hidden wherever a URL is shown, every other byte kept. */
import { describe, expect, test } from "bun:test";
import { isSecretParam, REDACTED, redactSecrets } from "../../src/core/redact.ts";

describe("redactSecrets: userinfo", () => {
  test("user and password both go, the rest of the URL stays byte for byte", () => {
    expect(redactSecrets("http://user:s3cret@collector.example:4318/v1/traces")).toBe(
      "http://REDACTED:REDACTED@collector.example:4318/v1/traces",
    );
  });

  test("a user alone (a token used as the user name, a Sentry key) goes too", () => {
    expect(redactSecrets("https://abc123@o1.ingest.sentry.io/42")).toBe("https://REDACTED@o1.ingest.sentry.io/42");
    expect(redactSecrets("https://ghp_token@github.com/a/b.git")).toBe("https://REDACTED@github.com/a/b.git");
  });

  test("a password holding an unencoded @ is cut at the last @ of the authority, as the URL parser reads it", () => {
    const url = "http://u:p@ss@host/x";
    expect(new URL(url).hostname).toBe("host");
    expect(redactSecrets(url)).toBe("http://REDACTED:REDACTED@host/x");
  });

  test("an @ in the path, the query or an e-mail address is not userinfo", () => {
    for (const text of [
      "http://host/users/@me",
      "http://host/?to=a@b.example",
      "mail ana@example.com",
      "npm i @scope/pkg",
    ])
      expect(redactSecrets(text)).toBe(text);
  });

  test("URLs inside a log line or a JSON document are found and redacted in place", () => {
    expect(redactSecrets("tracing: exporting spans to http://u:p@c:4318/v1/traces as http/protobuf")).toBe(
      "tracing: exporting spans to http://REDACTED:REDACTED@c:4318/v1/traces as http/protobuf",
    );
    expect(redactSecrets('{"url":"https://u:p@h/"}')).toBe('{"url":"https://REDACTED:REDACTED@h/"}');
  });
});

describe("redactSecrets: query parameters", () => {
  test("values of secret-looking names go; names, other values, order and the fragment stay", () => {
    expect(redactSecrets("/search?q=cats&api_key=abc123&page=2#top")).toBe(
      "/search?q=cats&api_key=REDACTED&page=2#top",
    );
  });

  test("case-insensitive, percent-encoded names, and a token in the fragment (OAuth implicit flow)", () => {
    expect(redactSecrets("/cb?Access_Token=a&API%5FKEY=b")).toBe("/cb?Access_Token=REDACTED&API%5FKEY=REDACTED");
    expect(redactSecrets("https://app.local/cb#access_token=abc&state=xyz")).toBe(
      "https://app.local/cb#access_token=REDACTED&state=xyz",
    );
  });

  test("S3 and GCS presigned URLs lose their signature and credential", () => {
    const url =
      "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F2024&X-Amz-Signature=f00d&X-Amz-Security-Token=t";
    expect(redactSecrets(url)).toBe(
      "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED",
    );
    expect(redactSecrets("/o?X-Goog-Signature=ab&AWSAccessKeyId=AK&Signature=s&sig=x")).toBe(
      "/o?X-Goog-Signature=REDACTED&AWSAccessKeyId=REDACTED&Signature=REDACTED&sig=REDACTED",
    );
  });

  test("userinfo and query together", () => {
    expect(redactSecrets("http://user:pass@c:4318/base/v1/traces?x=1&token=t")).toBe(
      "http://REDACTED:REDACTED@c:4318/base/v1/traces?x=1&token=REDACTED",
    );
  });

  test("empty values, names without a value, and text without a URL are left alone", () => {
    for (const text of [
      "/x?token=&a=1",
      "/x?token",
      "/x?keyword=cats&author=ana",
      "key=value outside a query",
      "/plain/path",
    ])
      expect(redactSecrets(text)).toBe(text);
  });

  test("idempotent: redacting twice changes nothing more", () => {
    const once = redactSecrets("http://u:p@h/?password=x");
    expect(redactSecrets(once)).toBe(once);
  });
});

describe("isSecretParam: the documented list", () => {
  const secret = [
    "api_key",
    "apikey",
    "api-key",
    "key",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "csrf_token",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "pwd",
    "pass",
    "auth",
    "authorization",
    "signature",
    "sig",
    "jwt",
    "session",
    "sid",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "X-Goog-Signature",
    "X-Goog-Credential",
    "AWSAccessKeyId",
    "private_key",
  ];
  const plain = ["q", "page", "keyword", "author", "monkey", "code", "state", "redirect_uri", "x", "lang", "signal"];

  test.each(secret)("%s is secret", (name) => expect(isSecretParam(name)).toBe(true));
  test.each(plain)("%s is not", (name) => expect(isSecretParam(name)).toBe(false));

  test("the marker is the word OpenTelemetry's semantic conventions use", () => {
    expect(REDACTED).toBe("REDACTED");
  });
});
