/** The framework table: every family's entries, in the order detection tries them. */
import { DJANGO } from "./django.ts";
import { NEXT } from "./next.ts";
import { RAILS } from "./rails.ts";
import type { Framework } from "./types.ts";
import { VITE_FRAMEWORKS } from "./vite.ts";
import { ANGULAR, WEBPACK } from "./webpack.ts";

export type { Framework, FrameworkId } from "./types.ts";

export const FRAMEWORKS: readonly Framework[] = [...VITE_FRAMEWORKS, NEXT, ANGULAR, WEBPACK, RAILS, DJANGO];

/** The framework this simple command starts (program is argv[0]'s basename), if any. */
export function frameworkOfCommand(program: string, args: readonly string[]): Framework | undefined {
  return FRAMEWORKS.find((framework) => framework.matches(program, args));
}

/** The framework a package.json's dependencies name; the most specific wins (Astro before the Vite it depends on). */
export function frameworkOfDependencies(dependencies: ReadonlySet<string>): Framework | undefined {
  const specific = FRAMEWORKS.filter((framework) => framework.id !== "vite");
  return [...specific, ...FRAMEWORKS].find((framework) =>
    framework.dependencies.some((name) => dependencies.has(name)),
  );
}
