/**
 * `gotunnel init`: writes a commented `gotunnel.config.ts` for the project in a directory (detect.ts says which).
 * An existing config is never replaced unless asked (`force`), and then it is moved aside, not deleted: the new file
 * is created with link(2) (safe-fs writeNew), so even a config another process writes meanwhile is not overwritten.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CONFIG_EXTENSIONS, PROJECT_CONFIG_BASENAME, RC_FILE } from "../config/load.ts";
import { GotunnelError } from "../core/errors.ts";
import { withOwnedDir } from "../platform/safe-fs.ts";
import { type DetectedProject, detectProject } from "./detect.ts";
import { backupName } from "./files.ts";

export const INIT_FILE = `${PROJECT_CONFIG_BASENAME}.ts`;
/** A config is read by every tool in the project; nothing in it is secret unless the user puts it there. */
const CONFIG_FILE_MODE = 0o644;
/** The directory already exists (it is the shell's); this mode only applies if safe-fs had to create it. */
const DIR_MODE = 0o755;
/** The port a plain project's route points at until the user says otherwise: what most dev servers default to. */
const PLAIN_PORT = 3000;

export interface InitResult {
  file: string;
  project: DetectedProject;
  /** Configs that were moved aside (`force`), each to its backup. */
  replaced: { file: string; backup: string }[];
  /** Config sources that still apply under the new file (.gotunnelrc, package.json's "gotunnel" key). */
  stillApplies: string[];
}

export function initProject(dir: string, options: { force?: boolean; name?: string } = {}): InitResult {
  const project = detectProject(dir, options.name);
  const existing = CONFIG_EXTENSIONS.map((ext) => `${PROJECT_CONFIG_BASENAME}${ext}`).filter((name) =>
    existsSync(join(dir, name)),
  );
  const lower = lowerSources(dir);
  if (!options.force && existing.length + lower.length > 0) throw alreadyConfigured(dir, [...existing, ...lower]);
  const text = configTemplate(project);
  const replaced: InitResult["replaced"] = [];
  withOwnedDir(dir, DIR_MODE, (owned) => {
    for (const name of existing) {
      const backup = backupName(dir, name, "bak");
      owned.rename(name, backup);
      replaced.push({ file: join(dir, name), backup: join(dir, backup) });
    }
    owned.writeNew(INIT_FILE, text, CONFIG_FILE_MODE);
  });
  return { file: join(dir, INIT_FILE), project, replaced, stillApplies: lower.map((name) => join(dir, name)) };
}

/** The project's other config sources, which the new file does not replace but sits above. */
function lowerSources(dir: string): string[] {
  const sources = existsSync(join(dir, RC_FILE)) ? [RC_FILE] : [];
  const pkg = join(dir, "package.json");
  if (existsSync(pkg) && /"gotunnel"\s*:/.test(readFileSync(pkg, "utf8"))) sources.push('package.json ("gotunnel")');
  return sources;
}

function alreadyConfigured(dir: string, names: string[]): GotunnelError {
  return new GotunnelError("E_USAGE", `${dir} already has a gotunnel config: ${names.join(", ")}`, {
    hint: "edit it, or run `gotunnel init --force` to write a new gotunnel.config.ts (an existing gotunnel.config.* is kept as a .bak file)",
    details: { files: names.map((name) => join(dir, name)) },
  });
}

/** The file `init` writes: the route, and commented lines for what the user may want next. */
export function configTemplate(project: DetectedProject): string {
  const { name, framework, evidence, command } = project;
  const what = framework ? `a ${framework.label} project (${evidence})` : "this project";
  const route = command
    ? [
        `    ${JSON.stringify(name)}: {`,
        `      // The dev server \`gotunnel up\` starts. It gets a free port (PORT${framework ? `, and the flags ${framework.label} reads` : ""}),`,
        "      // and the route's name is allowed where the framework checks it. Ctrl-C stops it.",
        `      command: ${JSON.stringify(command)},`,
        "      // port: 5173,                     // a fixed port instead of a free one",
        '      // env: { NODE_OPTIONS: "--inspect" },',
        "    },",
      ]
    : [
        "    // The port your dev server listens on (start it yourself), or give a `command` and gotunnel starts it:",
        `    // ${JSON.stringify(name)}: { command: "npm run dev" },`,
        `    ${JSON.stringify(name)}: ${PLAIN_PORT},`,
      ];
  return [
    `// gotunnel config for ${what}, written by \`gotunnel init\`.`,
    `// \`gotunnel up\` serves https://${name}${command ? " and starts its dev server" : ""}. The README's Configuration`,
    "// section lists every field. This file is code: it may read process.env.",
    'import { defineConfig } from "gotunnel";',
    "",
    "export default defineConfig({",
    "  routes: {",
    ...route,
    `    // ${JSON.stringify(`api.${name}`)}: "http://127.0.0.1:8080",   // another server, already running`,
    "  },",
    "  // Variants chosen with `gotunnel up --profile demo` (or GOTUNNEL_PROFILE=demo), merged over the above:",
    '  // profiles: { demo: { routes: { "demo.local": 4000 } } },',
    "  // Webhooks for route and upstream changes (docs/webhooks.md):",
    '  // notify: [{ url: "https://hooks.example.com/gotunnel", secret: process.env.GOTUNNEL_WEBHOOK_SECRET ?? "" }],',
    "});",
    "",
  ].join("\n");
}
