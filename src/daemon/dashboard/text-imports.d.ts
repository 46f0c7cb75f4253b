/** Stylesheets are imported as text (assets.ts). */
declare module "*.css" {
  const text: string;
  export default text;
}
