/**
 * The package entry: what `import { defineConfig } from "gotunnel"` gives a config file. Keep it tiny: inside the
 * compiled binary the same `defineConfig` is served to config files by a runtime plugin (src/config/load.ts).
 */
export type { DomainName, UpstreamTarget } from "./config/domain.ts";
export type { ConfigOverrides, LoadedConfig } from "./config/load.ts";
export type { GotunnelConfig, ResolvedConfig, ResolvedRoute, RouteInput } from "./config/schema.ts";
export { defineConfig } from "./config/schema.ts";
