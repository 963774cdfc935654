/**
 * Helm 3, one function per helm call. Each call is first built as a `Command` tuple by an exported
 * `helm...Command` builder (what --dry-run prints), then run through src/adapters/process.ts.
 *
 * Values always reach helm as files (JSON, a subset of YAML, mode 0600 in a private temporary
 * directory that is removed afterwards), never as --set strings: helm's --set parser would re-read
 * commas, dots, brackets and `null` inside a value.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { isDeepStrictEqual } from 'node:util';
import { printCommand, runChecked, run, type Command, type RunResult } from './process.js';
import { InternalError, StepError } from '../errors.js';

/** Chart values: maps, lists, strings, finite numbers, booleans and null. */
export type HelmValues = Record<string, unknown>;

/** How to reach helm and the cluster; every call takes one. */
export interface HelmContext {
  /** The helm binary (a path, or a name on PATH). */
  helm: string;
  /** Passed as --kubeconfig to the calls that talk to the cluster; default: helm's own default. */
  kubeconfig?: string;
  /** The whole environment of helm (not merged with ours); default: ours. */
  env?: NodeJS.ProcessEnv;
  /** Cancels helm (e.g. Listr2's task.signal). */
  signal?: AbortSignal;
  /** Phase named in errors, e.g. `enable/cilium/helm-release`. */
  phase?: string;
}

/** A release as `helm list -o json` prints it. */
export interface HelmRelease {
  name: string;
  namespace: string;
  revision: string;
  updated: string;
  status: string;
  chart: string;
  app_version: string;
}

/** The parts of a release mk8s-addons reads: `helm status -o json` (no chart there) or its stored record. */
export interface HelmReleaseStatus {
  name: string;
  namespace: string;
  version: number;
  info: { status: string; description?: string; first_deployed?: string; last_deployed?: string; notes?: string };
  chart?: { metadata?: { name?: string; version?: string; appVersion?: string } };
  config?: HelmValues;
  /** The rendered objects of the release (YAML documents; hooks and crds/ are not in it). */
  manifest?: string;
}

const kubeconfigArgs = (ctx: HelmContext): string[] => (ctx.kubeconfig ? ['--kubeconfig', ctx.kubeconfig] : []);

const valuesArgs = (files: readonly string[]): string[] => files.flatMap((f) => ['--values', f]);

/** `--post-renderer FILE --post-renderer-args A ...`: helm runs the command with the manifests on stdin. */
const postRendererArgs = (postRenderer: Command | undefined): string[] =>
  postRenderer ? ['--post-renderer', postRenderer[0], ...postRenderer[1].flatMap((a) => ['--post-renderer-args', a])] : [];

// ---------------------------------------------------------------------------------------------------
// template

export interface TemplateParams {
  release: string;
  /** A chart directory or packaged chart (.tgz). */
  chart: string;
  namespace: string;
  /** Values files, in order (later wins). */
  valuesFiles?: readonly string[];
  /** A post-renderer command (see src/cilium/post-render.ts). */
  postRenderer?: Command;
  /** Kubernetes version for Capabilities.KubeVersion and the chart's kubeVersion check, e.g. `1.31.0`. */
  kubeVersion?: string;
}

export function helmTemplateCommand(ctx: HelmContext, p: TemplateParams): Command {
  return [
    ctx.helm,
    [
      'template',
      p.release,
      p.chart,
      '--namespace',
      p.namespace,
      ...valuesArgs(p.valuesFiles ?? []),
      ...(p.kubeVersion ? ['--kube-version', p.kubeVersion] : []),
      ...postRendererArgs(p.postRenderer),
    ],
  ];
}

/** `helm template`: the rendered manifests (a multi-document YAML stream). */
export async function template(ctx: HelmContext, p: Omit<TemplateParams, 'valuesFiles'> & { values?: readonly HelmValues[] }): Promise<string> {
  const values = p.values ?? [];
  if (values.length === 1) {
    // One values document: on helm's standard input (`--values -`), no temporary file to write first.
    const r = await runChecked(helmTemplateCommand(ctx, { ...p, valuesFiles: ['-'] }), { ...runOptions(ctx), input: valuesFileText(values[0] as HelmValues) });
    return r.stdout;
  }
  return withValuesFiles(values, async (valuesFiles) => {
    const r = await runChecked(helmTemplateCommand(ctx, { ...p, valuesFiles }), runOptions(ctx));
    return r.stdout;
  });
}

// ---------------------------------------------------------------------------------------------------
// upgrade --install

export interface UpgradeInstallParams {
  release: string;
  chart: string;
  namespace: string;
  /**
   * Values files, in order. The running call writes its values to temporary files, so for --dry-run
   * output pass stand-in names (e.g. `values.json`) and print the values themselves beside the command.
   */
  valuesFiles?: readonly string[];
  postRenderer?: Command;
  /**
   * Default false: `--reset-values`, so the release's values are exactly the files given (mk8s-addons
   * always passes the complete values). true: `--reuse-values` (merge onto the release's values).
   */
  reuseValues?: boolean;
  /** `--skip-crds`: do not install the chart's crds/ folder. */
  skipCrds?: boolean;
}

/** `helm upgrade --install ... --wait=false`: mk8s-addons waits for the rollout itself, with its own timeout. */
export function helmUpgradeInstallCommand(ctx: HelmContext, p: UpgradeInstallParams): Command {
  return [
    ctx.helm,
    [
      'upgrade',
      p.release,
      p.chart,
      '--install',
      '--namespace',
      p.namespace,
      ...valuesArgs(p.valuesFiles ?? []),
      p.reuseValues ? '--reuse-values' : '--reset-values',
      ...(p.skipCrds ? ['--skip-crds'] : []),
      '--wait=false',
      ...postRendererArgs(p.postRenderer),
      ...kubeconfigArgs(ctx),
    ],
  ];
}

/** `helm upgrade --install` with `values` written to temporary values files (one per tree, in order). */
export async function upgradeInstall(ctx: HelmContext, p: Omit<UpgradeInstallParams, 'valuesFiles'> & { values?: readonly HelmValues[] }): Promise<RunResult> {
  forgetReleaseStates();
  return withValuesFiles(p.values ?? [], (valuesFiles) => runChecked(helmUpgradeInstallCommand(ctx, { ...p, valuesFiles }), runOptions(ctx)));
}

// ---------------------------------------------------------------------------------------------------
// uninstall, rollback

export interface ReleaseRef {
  release: string;
  namespace: string;
}

/** `waitMs`: `--wait --timeout`, so helm returns once the release's resources (and namespaces) are gone. */
export function helmUninstallCommand(ctx: HelmContext, p: ReleaseRef & { keepHistory?: boolean; waitMs?: number }): Command {
  return [
    ctx.helm,
    ['uninstall', p.release, '--namespace', p.namespace, ...(p.keepHistory ? ['--keep-history'] : []), ...(p.waitMs ? ['--wait', '--timeout', `${Math.ceil(p.waitMs / 1000)}s`] : []), ...kubeconfigArgs(ctx)],
  ];
}

export async function uninstall(ctx: HelmContext, p: ReleaseRef & { keepHistory?: boolean; waitMs?: number }): Promise<RunResult> {
  forgetReleaseStates();
  return runChecked(helmUninstallCommand(ctx, p), runOptions(ctx));
}

/** `helm rollback RELEASE [REVISION]`; without a revision helm goes back to the previous one. */
export function helmRollbackCommand(ctx: HelmContext, p: ReleaseRef & { revision?: number }): Command {
  return [
    ctx.helm,
    ['rollback', p.release, ...(p.revision === undefined ? [] : [String(p.revision)]), '--namespace', p.namespace, '--wait=false', ...kubeconfigArgs(ctx)],
  ];
}

export async function rollback(ctx: HelmContext, p: ReleaseRef & { revision?: number }): Promise<RunResult> {
  forgetReleaseStates();
  return runChecked(helmRollbackCommand(ctx, p), runOptions(ctx));
}

// ---------------------------------------------------------------------------------------------------
// list, status, get values, show values

export interface ListParams {
  /** Default: helm's current namespace. */
  namespace?: string;
  /** A regular expression on release names, e.g. `^cilium$`. */
  filter?: string;
  /** Include releases in every state (failed, pending, uninstalled with kept history), not only deployed/failed. */
  all?: boolean;
}

export function helmListCommand(ctx: HelmContext, p: ListParams = {}): Command {
  return [
    ctx.helm,
    [
      'list',
      ...(p.namespace ? ['--namespace', p.namespace] : []),
      ...(p.filter ? ['--filter', p.filter] : []),
      ...(p.all ? ['--all'] : []),
      '--output',
      'json',
      ...kubeconfigArgs(ctx),
    ],
  ];
}

export async function list(ctx: HelmContext, p: ListParams = {}): Promise<HelmRelease[]> {
  const cmd = helmListCommand(ctx, p);
  const r = await runChecked(cmd, runOptions(ctx));
  const data = parseJson(cmd, r.stdout);
  if (!Array.isArray(data)) throw new StepError(`${printCommand(cmd)} printed ${typeof data} instead of a list of releases`, { phase: ctx.phase });
  return data as HelmRelease[];
}

export function helmStatusCommand(ctx: HelmContext, p: ReleaseRef): Command {
  return [ctx.helm, ['status', p.release, '--namespace', p.namespace, '--output', 'json', ...kubeconfigArgs(ctx)]];
}

/** The release's status, or undefined when there is no such release. */
export async function status(ctx: HelmContext, p: ReleaseRef): Promise<HelmReleaseStatus | undefined> {
  const cmd = helmStatusCommand(ctx, p);
  const r = await run(cmd, runOptions(ctx));
  if (r.exitCode !== 0) {
    if (isReleaseNotFound(r.stderr)) return undefined;
    throw failed(cmd, r, ctx);
  }
  return parseJson(cmd, r.stdout) as HelmReleaseStatus;
}

export function helmGetValuesCommand(ctx: HelmContext, p: ReleaseRef & { all?: boolean }): Command {
  return [ctx.helm, ['get', 'values', p.release, '--namespace', p.namespace, ...(p.all ? ['--all'] : []), '--output', 'json', ...kubeconfigArgs(ctx)]];
}

/**
 * The values the release was installed with (`--all`: merged with the chart's defaults), or
 * undefined when there is no such release.
 */
export async function getValues(ctx: HelmContext, p: ReleaseRef & { all?: boolean }): Promise<HelmValues | undefined> {
  const cmd = helmGetValuesCommand(ctx, p);
  const r = await run(cmd, runOptions(ctx));
  if (r.exitCode !== 0) {
    if (isReleaseNotFound(r.stderr)) return undefined;
    throw failed(cmd, r, ctx);
  }
  // A release installed without values prints `null`.
  const data = parseJson(cmd, r.stdout);
  return data === null ? {} : (data as HelmValues);
}

export function helmShowValuesCommand(ctx: HelmContext, p: { chart: string }): Command {
  return [ctx.helm, ['show', 'values', p.chart]];
}

/** The chart's values.yaml as text (for an umbrella chart: only the parent chart's file). */
export async function showValues(ctx: HelmContext, p: { chart: string }): Promise<string> {
  return (await runChecked(helmShowValuesCommand(ctx, p), runOptions(ctx))).stdout;
}

// ---------------------------------------------------------------------------------------------------

function runOptions(ctx: HelmContext) {
  return { env: ctx.env, signal: ctx.signal, phase: ctx.phase };
}

/** The same error runChecked gives, for calls where one failure (release not found) is an answer. */
function failed(cmd: Command, r: RunResult, ctx: HelmContext): StepError {
  const detail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-5).join(' | ');
  return new StepError(`${printCommand(cmd)} exited with ${r.exitCode}${detail ? `: ${detail}` : ''}`, { phase: ctx.phase });
}

function isReleaseNotFound(stderr: string): boolean {
  return /release: not found/.test(stderr);
}

function parseJson(cmd: Command, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new StepError(`${printCommand(cmd)} printed something other than JSON: ${text.trim().slice(0, 200)}`);
  }
}

/** A values file's text: JSON, which is YAML whose structure no value can change. */
export function valuesFileText(values: HelmValues): string {
  const text = JSON.stringify(
    values,
    (key, v: unknown) => {
      // JSON would turn these into null silently.
      if (typeof v === 'number' && !Number.isFinite(v)) throw new InternalError(`chart value ${key} is ${v}, which a values file cannot hold`);
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') {
        throw new InternalError(`chart value ${key} is a ${typeof v}, which a values file cannot hold`);
      }
      return v;
    },
    2,
  );
  return `${text}\n`;
}

/**
 * Writes each values tree to its own file (mode 0600, in a fresh 0700 directory), runs `fn` with the
 * paths, and removes the directory whatever happens.
 */
export async function withValuesFiles<T>(values: readonly HelmValues[], fn: (files: string[]) => Promise<T>): Promise<T> {
  if (values.length === 0) return fn([]);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mk8s-addons-values-'));
  try {
    const files: string[] = [];
    for (const [i, v] of values.entries()) {
      const file = path.join(dir, `values-${i + 1}.json`);
      await writeFile(file, valuesFileText(v), { mode: 0o600, flag: 'wx' });
      files.push(file);
    }
    return await fn(files);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------
// a release's state, shared by the checks of one run

/** Deployed and wanted values compared as helm stores them (JSON). */
export const sameHelmValues = (a: unknown, b: unknown): boolean => isDeepStrictEqual(JSON.parse(JSON.stringify(a ?? {})), JSON.parse(JSON.stringify(b ?? {})));

export interface ReleaseState {
  release: HelmRelease;
  /** The chart version, e.g. `1.8.13`. */
  chartVersion: string;
  values: HelmValues;
  /** The release's rendered objects, when read from its stored record (not with another storage driver). */
  manifest?: string;
}

/** The state of a release from its stored record (the latest revision, any state). */
export function releaseStateOf(st: HelmReleaseStatus): ReleaseState {
  const meta = st.chart?.metadata ?? {};
  const chartVersion = meta.version ?? '';
  return {
    release: {
      name: st.name,
      namespace: st.namespace,
      revision: String(st.version),
      updated: st.info.last_deployed ?? '',
      status: st.info.status,
      chart: `${meta.name ?? ''}-${chartVersion}`,
      app_version: meta.appVersion ?? '',
    },
    chartVersion,
    values: st.config ?? {},
    ...(typeof st.manifest === 'string' ? { manifest: st.manifest } : {}),
  };
}

/** The label selector of a release's records in Helm's storage. */
export const releaseRecordSelector = (release: string): string => `owner=helm,name=${release}`;

/**
 * A release record as Helm's storage holds it (pkg/storage/driver/util.go): the release as JSON, gzipped,
 * base64 (a Secret's data value is that string, base64 again over the API).
 */
export function decodeReleaseRecord(data: string): HelmReleaseStatus {
  let bytes = Buffer.from(data, 'base64');
  if (bytes.length > 3 && bytes[0] === 0x1f && bytes[1] === 0x8b && bytes[2] === 0x08) bytes = gunzipSync(bytes);
  return JSON.parse(bytes.toString('utf8')) as HelmReleaseStatus;
}

/**
 * The latest record of a release (highest revision, any state: what `helm status` shows), read from
 * Helm's default storage, Secrets labelled owner=helm,name=RELEASE in the release's namespace, with one
 * API call and no helm process. undefined: no record; 'ask-helm': another storage driver (HELM_DRIVER),
 * no kubeconfig, or the Secrets cannot be listed, so helm itself must say.
 */
async function latestStoredRelease(ctx: HelmContext, p: ReleaseRef): Promise<HelmReleaseStatus | undefined | 'ask-helm'> {
  const driver = (ctx.env ?? process.env).HELM_DRIVER ?? '';
  if (!ctx.kubeconfig || !['', 'secret', 'secrets'].includes(driver.toLowerCase())) return 'ask-helm';
  const { connect } = await import('./kube.js');
  const { listPath } = await import('./kube-http.js');
  let r: { status: number; body: { items?: { metadata?: { labels?: Record<string, string> }; data?: { release?: string } }[] } };
  try {
    r = await (await connect(ctx.kubeconfig)).http.request('GET', listPath('/api/v1', 'secrets', p.namespace, releaseRecordSelector(p.release)));
  } catch {
    return 'ask-helm';
  }
  if (r.status !== 200 || !Array.isArray(r.body?.items)) return 'ask-helm';
  const records = r.body.items.filter((s) => typeof s.data?.release === 'string');
  if (records.length === 0) return undefined;
  const revision = (s: (typeof records)[number]) => Number(s.metadata?.labels?.version);
  if (records.some((s) => !Number.isInteger(revision(s)))) return 'ask-helm';
  const latest = records.reduce((a, b) => (revision(b) > revision(a) ? b : a));
  try {
    return decodeReleaseRecord(Buffer.from(latest.data?.release ?? '', 'base64').toString('utf8'));
  } catch {
    return 'ask-helm';
  }
}

const states = new Map<string, Promise<ReleaseState | undefined>>();

/**
 * The release's state, read once per process and namespace/name (an addon's hook and its helm-release
 * step's check both need it), in one API call: the latest record in Helm's storage (latestStoredRelease),
 * i.e. the latest revision whatever its state (as `helm list --all` shows it) with its user-supplied values
 * (as `helm get values` prints them); with another storage driver, helm list and helm get values.
 * Forgotten by every call that changes a release (upgradeInstall, uninstall, rollback) and by
 * forgetReleaseStates().
 */
export function releaseState(ctx: HelmContext, p: ReleaseRef): Promise<ReleaseState | undefined> {
  const key = `${ctx.kubeconfig ?? ''}\0${p.namespace}\0${p.release}`;
  let found = states.get(key);
  if (!found) {
    found = (async () => {
      const stored = await latestStoredRelease(ctx, p);
      if (stored !== 'ask-helm') return stored ? releaseStateOf(stored) : undefined;
      // `helm status -o json` leaves the chart out: helm list and helm get values, side by side.
      const [releases, values] = await Promise.all([list(ctx, { namespace: p.namespace, filter: `^${p.release}$`, all: true }), getValues(ctx, p)]);
      const rel = releases.find((r) => r.name === p.release);
      return rel ? { release: rel, chartVersion: rel.chart.replace(/^.*-(\d+\.\d+\.\d+.*)$/, '$1'), values: values ?? {} } : undefined;
    })();
    found.catch(() => states.delete(key));
    states.set(key, found);
  }
  return found;
}

export function forgetReleaseStates(): void {
  states.clear();
}

/** `deployment/a is gone`, `2 of its objects are gone: deployment/a, configmap/b` (at most 5 named). */
export function goneText(gone: readonly string[]): string {
  const named = gone.length > 5 ? `${gone.slice(0, 5).join(', ')} and ${gone.length - 5} more` : gone.join(', ');
  return gone.length === 1 ? `${named} is gone` : `${gone.length} of its objects are gone: ${named}`;
}

/**
 * The objects of a release (from its stored manifest) that are gone from the cluster, as `kind/name`:
 * deleted outside mk8s-addons. An upgrade with the same chart and values makes them again (Helm creates
 * what its target manifest has and the cluster lacks). Kinds the read client does not know, and a release
 * read without its manifest (another storage driver), are not looked at.
 */
export async function missingReleaseObjects(ctx: HelmContext, st: ReleaseState, namespace: string): Promise<string[]> {
  if (!ctx.kubeconfig || !st.manifest) return [];
  const { default: yaml } = await import('js-yaml');
  const { connect } = await import('./kube.js');
  const { objectPath } = await import('./kube-http.js');
  type Doc = { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
  const refs = (yaml.loadAll(st.manifest) as Doc[]).flatMap((d) =>
    d && typeof d.apiVersion === 'string' && typeof d.kind === 'string' && typeof d.metadata?.name === 'string'
      ? [{ apiVersion: d.apiVersion, kind: d.kind, metadata: { name: d.metadata.name, namespace: typeof d.metadata.namespace === 'string' ? d.metadata.namespace : namespace } }]
      : [],
  );
  const kube = await connect(ctx.kubeconfig);
  const gone = await Promise.all(
    refs.map(async (ref) => {
      const at = objectPath(ref);
      if (!at) return undefined;
      const r = await kube.http.request('GET', at);
      return r.status === 404 ? `${ref.kind.toLowerCase()}/${ref.metadata.name}` : undefined;
    }),
  );
  return gone.filter((g): g is string => g !== undefined);
}
