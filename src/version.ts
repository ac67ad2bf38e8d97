// Replaced at bundle time by esbuild's --define; the fallback serves runs from source.
declare const OSAM_VERSION: string | undefined;
export const VERSION: string = typeof OSAM_VERSION === "string" ? OSAM_VERSION : "0.1.0-dev";
