/** Where the onboarding files live on the daemon's HTTP listener. Reserved: no route can use this path prefix. */
export const ONBOARDING_PATH = "/_gotunnel/";
export const DOWNLOADS = {
  pem: "gotunnel-ca.pem",
  crt: "gotunnel-ca.crt",
  mobileconfig: "gotunnel-ca.mobileconfig",
} as const;
