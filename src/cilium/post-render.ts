/**
 * Rewrites hostPath volumes in rendered manifests: a Helm post-renderer.
 *
 * Why: hubble-relay in Cilium 1.8, 1.9 and 1.10 mounts the hostPath `dir(hubble.socketPath)` =
 * `/var/run/cilium` to reach the local agent's hubble.sock, whatever daemon.runPath says; on MicroK8s the
 * agent's run directory is `$SNAP_DATA/var/run/cilium`, so relay would find no socket. hubble.socketPath
 * cannot be moved instead: it is also the path *inside* the agent's container. 1.10 could switch relay
 * to the hubble-peer Service (hubble.peerService.enabled), but that makes relay resolve
 * hubble-peer.kube-system.svc.cluster.local, i.e. depend on cluster DNS, which the cilium addon does not
 * require; 1.11+ uses the peer Service by default and needs no rewrite.
 *
 * How: Helm 3 runs a post-renderer executable on every install, upgrade and template with the manifests on
 * stdin, so the release helm records is the rewritten one and `helm template` shows exactly what gets
 * installed. The executable is scripts/post-render-hostpath.mjs, run with this node; it calls
 * rewriteHostPaths below. The rewrite is textual (only the `path:` line changes; every other byte stays),
 * and each changed object is parsed again to prove the rewrite took.
 */
import yaml from 'js-yaml';
import semverSatisfies from 'semver/functions/satisfies.js';
import type { Command } from '../adapters/process.js';
import { packagePath } from '../adapters/package-files.js';
import { HELM_YAML_SCHEMA, isTable } from './helm-values.js';

/** Moves hostPath `from` (and paths under it) of the pods of one object to `to`. */
export interface HostPathRewrite {
  kind: string;
  name: string;
  from: string;
  to: string;
}

/** The executable Helm runs (with `node`), shipped in the package. */
export const POST_RENDER_SCRIPT = packagePath('scripts', 'post-render-hostpath.mjs');

/** The rewrites Cilium `version` needs on a node whose $SNAP_DATA is `snapData`. */
export function ciliumHostPathRewrites(version: string, snapData: string): HostPathRewrite[] {
  if (!semverSatisfies(version, '>=1.8.0 <1.11.0')) return [];
  return [{ kind: 'Deployment', name: 'hubble-relay', from: '/var/run/cilium', to: `${snapData.replace(/\/+$/, '')}/var/run/cilium` }];
}

/** The `--post-renderer` command for these rewrites (undefined when there are none). */
export function postRendererCommand(rewrites: readonly HostPathRewrite[], node: string = process.execPath): Command | undefined {
  if (rewrites.length === 0) return undefined;
  return [node, [POST_RENDER_SCRIPT, ...rewrites.flatMap((r) => ['--rewrite', `${r.kind}/${r.name}`, r.from, r.to])]];
}

/** The post-renderer Cilium `version` needs on MicroK8s, if any. */
export function ciliumPostRenderer(version: string, snapData: string): Command | undefined {
  return postRendererCommand(ciliumHostPathRewrites(version, snapData));
}

/** Reads the script's arguments: `--rewrite KIND/NAME FROM TO`, repeated. */
export function parsePostRenderArgs(argv: readonly string[]): HostPathRewrite[] {
  const rewrites: HostPathRewrite[] = [];
  for (let i = 0; i < argv.length; i += 4) {
    const [flag, target, from, to] = argv.slice(i, i + 4);
    const slash = target?.indexOf('/') ?? -1;
    if (flag !== '--rewrite' || target === undefined || slash <= 0 || !from?.startsWith('/') || !to?.startsWith('/')) {
      throw new Error(`usage: post-render-hostpath.mjs (--rewrite KIND/NAME FROM TO)...; got ${JSON.stringify(argv.slice(i))}`);
    }
    rewrites.push({ kind: target.slice(0, slash), name: target.slice(slash + 1), from, to });
  }
  return rewrites;
}

interface Workload {
  kind?: string;
  metadata?: { name?: string };
}

/** The pod spec of a workload object, if it has one. */
export function podSpecOf(obj: unknown): Record<string, unknown> | undefined {
  if (!isTable(obj)) return undefined;
  const spec = obj.spec;
  if (!isTable(spec)) return undefined;
  const jobTemplate = isTable(spec.jobTemplate) && isTable(spec.jobTemplate.spec) ? spec.jobTemplate.spec : undefined;
  const template = (jobTemplate ?? spec).template;
  if (isTable(template) && isTable(template.spec)) return template.spec;
  return undefined;
}

/** The hostPath volumes of a workload: volume name and path. */
export function hostPathsOf(obj: unknown): { volume: string; path: string }[] {
  const volumes = podSpecOf(obj)?.volumes;
  if (!Array.isArray(volumes)) return [];
  return volumes.flatMap((v: unknown) =>
    isTable(v) && isTable(v.hostPath) && typeof v.hostPath.path === 'string' ? [{ volume: String(v.name ?? ''), path: v.hostPath.path }] : [],
  );
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const under = (p: string, dir: string): boolean => p === dir || p.startsWith(`${dir}/`);

/** Splits a manifest stream at its `---` lines: documents at even indices, the separator lines between. */
function splitKeepingSeparators(stream: string): string[] {
  return stream.split(/(^---[ \t]*(?:\r?\n|$))/m);
}

function rewriteText(doc: string, rule: HostPathRewrite): string {
  const lines = doc.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)(?:- )?hostPath:\s*$/.exec(lines[i] ?? '');
    if (!m) continue;
    const keyIndent = (m[1] ?? '').length + ((lines[i] ?? '').trimStart().startsWith('- ') ? 2 : 0);
    for (let j = i + 1; j < lines.length; j++) {
      const line = lines[j] ?? '';
      const indent = line.length - line.trimStart().length;
      if (line.trim() !== '' && indent <= keyIndent) break;
      const pm = /^(\s*)path:\s*(.*?)\s*$/.exec(line);
      if (!pm) continue;
      const raw = pm[2] ?? '';
      const value = /^".*"$/.test(raw) ? (JSON.parse(raw) as string) : raw.replace(/^'(.*)'$/, '$1');
      if (under(value, rule.from)) lines[j] = `${pm[1] ?? ''}path: ${JSON.stringify(rule.to + value.slice(rule.from.length))}`;
    }
  }
  return lines.join('\n');
}

/**
 * Applies the rewrites to a manifest stream. Objects no rule names pass through byte for byte; a
 * named object whose hostPath the rewrite could not reach is an error, never a silent pass.
 */
export function rewriteHostPaths(stream: string, rewrites: readonly HostPathRewrite[]): string {
  return splitKeepingSeparators(stream)
    .map((doc, i) => (i % 2 === 1 ? doc : rewriteDocument(doc, rewrites)))
    .join('');
}

function rewriteDocument(doc: string, rewrites: readonly HostPathRewrite[]): string {
  // A cheap test first: most documents name no kind a rule is about.
  const rules = rewrites.filter((r) => new RegExp(`^kind:\\s*${escapeRegExp(r.kind)}\\s*$`, 'm').test(doc));
  if (rules.length === 0) return doc;
  const obj = yaml.load(doc, { schema: HELM_YAML_SCHEMA }) as Workload | null;
  const mine = rules.filter((r) => obj?.kind === r.kind && obj.metadata?.name === r.name);
  if (mine.length === 0) return doc;
  let text = doc;
  for (const rule of mine) text = rewriteText(text, rule);
  const after = yaml.load(text, { schema: HELM_YAML_SCHEMA });
  for (const rule of mine) {
    const left = hostPathsOf(after).find((h) => under(h.path, rule.from));
    if (left) throw new Error(`${rule.kind} ${rule.name}: could not rewrite hostPath ${left.path} (volume ${left.volume}) to ${rule.to}`);
  }
  return text;
}
