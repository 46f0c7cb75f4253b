/**
 * How long the CA has left. Pure and import-free, so commands that only read the daemon's status (which must not load
 * @peculiar/x509 outside tls/load.ts) can use it.
 */
export const DAY_MS = 86_400_000;

/** Warn this many days before the CA expires: re-trusting a new CA is work the user should plan for. */
export const CA_EXPIRY_WARNING_DAYS = 30;

export interface CaHealth {
  /** Whole days until notAfter; negative once expired. */
  daysLeft: number;
  /** Set under CA_EXPIRY_WARNING_DAYS, with the command that fixes it. */
  warning?: string;
}

export function caHealth(ca: { notAfter: Date }, now: Date = new Date()): CaHealth {
  const daysLeft = Math.floor((ca.notAfter.getTime() - now.getTime()) / DAY_MS);
  if (daysLeft >= CA_EXPIRY_WARNING_DAYS) return { daysLeft };
  const when = daysLeft < 0 ? "expired" : `expires in ${daysLeft} day(s)`;
  return {
    daysLeft,
    warning:
      `gotunnel's CA ${when} (${ca.notAfter.toISOString().slice(0, 10)}). Run \`gotunnel ca rotate\`: it makes a ` +
      "new CA, trusts it wherever the old one was trusted, and untrusts the old one.",
  };
}
