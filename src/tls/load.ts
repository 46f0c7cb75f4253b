/**
 * The lazy entry to src/tls for commands and for the certificate issuer (issuer/child.ts). The daemon never loads it:
 * it gets certificates from that child (issuer/client.ts). @peculiar/x509 needs `reflect-metadata` evaluated first.
 * Inside a lazily loaded chunk of a `bun build --compile` binary (Bun 1.4.5), a static `import "reflect-metadata"` in
 * x509.ts runs AFTER tsyringe's check and the binary crashes ("tsyringe requires a reflect polyfill"); loading it in
 * its own dynamic import step first is what works (tests/e2e runs the compiled binary through this path).
 */
export async function loadTls() {
  await import("reflect-metadata");
  const [ca, leaf, store] = await Promise.all([import("./ca.ts"), import("./leaf.ts"), import("./store.ts")]);
  return {
    loadOrCreateCA: ca.loadOrCreateCA,
    loadCA: ca.loadCA,
    issueLeaf: leaf.issueLeaf,
    issuerFor: leaf.issuerFor,
    CertificateStore: store.CertificateStore,
  };
}
