/**
 * Reading and writing config data as JSON, YAML and TOML: the one importer of confbox, the parser c12 itself uses
 * to read these files, so what `config migrate` parses is what the loader reads. JSON keeps the original's
 * indentation; YAML and TOML come back without their comments (the backup keeps them).
 */
import { parseJSON, parseTOML, parseYAML, stringifyTOML, stringifyYAML } from "confbox";

export type DataFormat = "json" | "yaml" | "toml";

const FORMATS: Record<string, DataFormat> = { ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml" };

/** The data format of a config file's extension; undefined for code (.ts, .js…) and rc files. */
export function dataFormatOf(extension: string): DataFormat | undefined {
  return FORMATS[extension];
}

export function parseData(format: DataFormat, text: string): unknown {
  if (format === "json") return parseJSON(text);
  return format === "yaml" ? parseYAML(text) : parseTOML(text);
}

/** `original`: the file's text before, whose JSON indentation (two spaces when it has none) is kept. */
export function stringifyData(format: DataFormat, value: unknown, original = ""): string {
  if (format === "json") return `${JSON.stringify(value, null, /^[ \t]+(?=\S)/m.exec(original)?.[0] ?? 2)}\n`;
  const text = format === "yaml" ? stringifyYAML(value) : stringifyTOML(value);
  return text.endsWith("\n") ? text : `${text}\n`;
}
