/** The lazy entry to src/tls for commands: the CA and the certificate store load only where TLS is needed. */
export async function loadTls() {
  const [ca, store] = await Promise.all([import("./ca.ts"), import("./store.ts")]);
  return { loadOrCreateCA: ca.loadOrCreateCA, loadCA: ca.loadCA, CertificateStore: store.CertificateStore };
}
