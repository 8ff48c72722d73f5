/** The package version, kept equal to package.json's by test/package.test.ts (no file reads at run time). */
export const VERSION = '0.1.0';
