/**
 * The hosts-file service: gotunnel's names in a marked block of the hosts file (`# gotunnel-start` …
 * `# gotunnel-end`), every other byte of the file left exactly as it was. block.ts is the pure text logic,
 * file.ts the only module that touches the file. The daemon wires this in; proxy, tls and mdns never import it.
 */
export type { BlockOptions, Eol, HostsNamePlan, ParsedHosts, SkippedName, SkipReason } from "./block.ts";
export {
  BLOCK_END,
  BLOCK_START,
  DEFAULT_ADDRESSES,
  namesInBlock,
  parseHostsFile,
  planHostsNames,
  renderHosts,
  SKIP_REASON_TEXT,
  withNames,
} from "./block.ts";
export type { ApplyHostsOptions, ApplyHostsResult, WriteMethod } from "./file.ts";
export { applyHostsNames, HOSTS_FILE_ENV, hostsFilePath, readHosts } from "./file.ts";
