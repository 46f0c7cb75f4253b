/** assets.ts imports app.js as text (`with { type: "text" }`); this tells TypeScript so. */
declare const source: string;
export default source;
