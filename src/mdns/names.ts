/**
 * Domain names as the responder handles them: presentation strings whose labels are joined by "." with "\." and
 * "\\" escaping a dot or backslash inside a label (a DNS-SD instance name such as "myapp.local" is ONE label,
 * RFC 6763 §4.3). mDNS compares names case-insensitively for ASCII only (RFC 6762 §16).
 */

/** RFC 6762 §3: names under "local." are the ones Multicast DNS answers for. */
export const LOCAL_SUFFIX = "local";
/** RFC 6763 §9: browsing this name lists the service types on the link. */
export const SERVICE_TYPE_ENUMERATION = "_services._dns-sd._udp.local";
export const HTTPS_SERVICE_TYPE = "_https._tcp.local";
export const HTTP_SERVICE_TYPE = "_http._tcp.local";

export function splitLabels(name: string): string[] {
  const labels: string[] = [];
  let current = "";
  for (let i = 0; i < name.length; i++) {
    const char = name[i]!;
    if (char === "\\" && i + 1 < name.length) current += name[++i];
    else if (char === ".") {
      if (current !== "") labels.push(current);
      current = "";
    } else current += char;
  }
  if (current !== "") labels.push(current);
  return labels;
}

export function escapeLabel(label: string): string {
  return label.replaceAll("\\", "\\\\").replaceAll(".", "\\.");
}

export function joinLabels(labels: readonly string[]): string {
  return labels.map(escapeLabel).join(".");
}

/** Lowercases A–Z only: RFC 6762 §16 folds case for ASCII letters and leaves every other byte alone. */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (letter) => letter.toLowerCase());
}

export function sameName(a: string, b: string): boolean {
  if (a === b) return true;
  // Without escapes, the text is the labels: folding case and a trailing root dot is all that can differ.
  if (!a.includes("\\") && !b.includes("\\")) return asciiLower(trimRoot(a)) === asciiLower(trimRoot(b));
  return asciiLower(joinLabels(splitLabels(a))) === asciiLower(joinLabels(splitLabels(b)));
}

function trimRoot(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

export function isLocalName(name: string): boolean {
  const labels = splitLabels(name);
  return labels.length >= 2 && asciiLower(labels[labels.length - 1]!) === LOCAL_SUFFIX;
}

/** `myapp.local` + `_https._tcp.local` → `myapp\.local._https._tcp.local` (instance label first, RFC 6763 §4.1). */
export function instanceName(label: string, serviceType: string): string {
  return `${escapeLabel(label)}.${serviceType}`;
}

/** The instance label (first label) of a service instance name, unescaped. */
export function instanceLabel(name: string): string {
  return splitLabels(name)[0] ?? "";
}

/** The service type of an instance name: everything after its first label. */
export function serviceTypeOf(name: string): string {
  return joinLabels(splitLabels(name).slice(1));
}
