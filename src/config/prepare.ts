/**
 * What happens to a config file's content between reading and validating it: a file in an older shape is converted
 * (legacy.ts) with a warning that lists each change, then the chosen profile is merged over it (profiles.ts). A
 * profile that no file defines is an error naming the profiles there are.
 */
import { formatPath } from "./field-path.ts";
import { CONFIG_VERSION, configVersion, legacyWarning, migrateLegacy } from "./legacy.ts";
import { applyProfile, type ProfileChoice, profileNames, unknownProfile } from "./profiles.ts";

/** The parts of a loader layer this step reads and rewrites. */
export interface FileLayer {
  source: string;
  raw: unknown;
  file?: string;
  /** package.json's `gotunnel` key: where in the file the layer sits. */
  pathPrefix?: string[];
}

export interface PreparedLayers<L extends FileLayer> {
  layers: L[];
  warnings: string[];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Names the layer for messages: the file, and the key inside it when it is package.json's. */
function layerName(layer: FileLayer): string {
  return layer.pathPrefix ? `${layer.source} (${formatPath(layer.pathPrefix)})` : layer.source;
}

export function prepareLayers<L extends FileLayer>(layers: readonly L[], choice?: ProfileChoice): PreparedLayers<L> {
  const warnings: string[] = [];
  const current = layers.map((layer) => {
    if (configVersion(layer.raw, layerName(layer)) === CONFIG_VERSION || !isPlainObject(layer.raw)) return layer;
    const { value, changes } = migrateLegacy(layer.raw);
    warnings.push(legacyWarning(layerName(layer), changes));
    return { ...layer, raw: value };
  });
  if (!choice) return { layers: current, warnings };
  const defined = new Map(current.map((layer) => [layerName(layer), profileNames(layer.raw)]));
  if (![...defined.values()].some((names) => names.includes(choice.name))) throw unknownProfile(choice, defined);
  const profiled = current.map((layer) =>
    profileNames(layer.raw).includes(choice.name)
      ? { ...layer, raw: applyProfile(layer.raw, choice.name), source: `${layer.source} (profile ${choice.name})` }
      : layer,
  );
  return { layers: profiled, warnings };
}
