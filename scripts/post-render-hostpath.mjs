#!/usr/bin/env node
// Helm post-renderer: reads rendered manifests on stdin, moves hostPath volumes of named objects, writes
// the manifests on stdout. Helm runs it as `--post-renderer <node> --post-renderer-args <this file> ...`
// with the arguments `--rewrite KIND/NAME FROM TO` (repeated); see src/cilium/post-render.ts for why.
import { rewriteHostPaths, parsePostRenderArgs } from '../dist/src/cilium/post-render.js';

try {
  const rewrites = parsePostRenderArgs(process.argv.slice(2));
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  process.stdout.write(rewriteHostPaths(Buffer.concat(chunks).toString('utf8'), rewrites));
} catch (err) {
  process.stderr.write(`post-render-hostpath: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
