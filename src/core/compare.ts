/**
 * Orders strings by UTF-16 code unit, as `Array.prototype.sort` does with no comparator. For the names sorted with it
 * (host names: lower-case letters, digits, hyphens and dots; interface names; ids) that is the order `localeCompare`
 * gives too, but `localeCompare` loads ICU's collation into the process on first use: 1.4 MiB of the idle daemon's
 * RSS, for as long as it runs (issue 18, CONTRIBUTING.md).
 */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
