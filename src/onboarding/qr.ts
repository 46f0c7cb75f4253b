/**
 * QR codes of the onboarding URL: for the terminal (`gotunnel share`) and as SVG on the onboarding page. The only
 * importer of `uqr` (zero dependencies, ~27 kB), loaded only by the commands that show a code.
 */
import { renderSVG, renderUnicodeCompact } from "uqr";

/** White text on black: uqr draws light modules as full blocks, so this keeps a scannable polarity on any theme. */
const LIGHT_ON_DARK = "\x1b[97;40m";
const RESET = "\x1b[0m";

/**
 * Half-block characters, two modules per character cell, so a URL's code fits in about 20 terminal lines. With
 * `color`, explicit colors make the code scan on light terminals too; without, it suits a dark terminal.
 */
export function terminalQr(text: string, color: boolean): string {
  const lines = renderUnicodeCompact(text, { ecc: "M", border: 2 }).split("\n");
  return lines.map((line) => (color ? `${LIGHT_ON_DARK}${line}${RESET}` : line)).join("\n");
}

export function svgQr(text: string): string {
  return renderSVG(text, { ecc: "M", border: 2 });
}
