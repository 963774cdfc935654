// Module hooks for import-census.mjs: records each resolved ES module URL (node: builtins left out).
import { appendFileSync } from 'node:fs';

let file;
export function initialize(data) {
  file = data?.file;
}
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (file && !result.url.startsWith('node:')) appendFileSync(file, `${result.url}\n`);
  return result;
}
