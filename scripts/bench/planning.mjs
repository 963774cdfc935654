// Row 2, planning: `enable cilium:v1.8 --dry-run --force` on a sandbox node (start-up, plan, values, the
// compatibility read, the cilium hook's `helm template` render check, every step's check) against a bare
// `node -e 0` plus the same `helm template` call (same chart, namespace, values file and --kube-version),
// alternating which side goes first. Also checks that the dry-runs wrote nothing under $SNAP_DATA.
//
// The render check keeps a passing verdict (src/cilium/render-check.ts, MK8S_ADDONS_CHECK_CACHE), so the
// same dry-run again runs no `helm template`. The row as defined is COLD: the check cache is emptied
// before each mk8s-addons run, so every run renders, as the baseline does; the target is judged on it.
// The WARM figure (the same cache kept from run to run: what a repeated dry-run costs) is measured in the
// same pairs (cold and warm take turns going first) and printed beside it, without a target.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { HELM, ROOT, alternate, cli, digestDiff, eventsOf, kubeVersion, log, summary, timed, treeDigest, ciliumValuesFile, fmt, median } from './lib.mjs';
import { timeline } from './report.mjs';
import { childTimeline, heaviestPackages, importCensus, importCost, printChildren, printCensus, printImportCost, printProfile, profileCli } from './profile.mjs';

export const DRY_RUN_ARGS = ['enable', 'cilium:v1.8', '--dry-run', '--force', '--output', 'json'];

export async function benchPlanning(sb, { pairs = 10, budgetMs = 120_000, profile = false } = {}) {
  const kv = await kubeVersion(sb.cp);
  const { chart, file } = await ciliumValuesFile(sb, '1.8.13', path.join(sb.dir, 'bench-values-1.8.13.json'));
  const templateArgs = ['template', 'cilium', chart, '--namespace', 'kube-system', '--values', file, '--kube-version', kv];
  const checks = path.join(sb.dir, 'bench-check-cache');
  const env = { ...sb.env, MK8S_ADDONS_CHECK_CACHE: checks };
  const once = async () => {
    const r = await cli(DRY_RUN_ARGS, { env, timeoutMs: 120_000 });
    const result = eventsOf(r.stdout).at(-1);
    if (result?.type !== 'result' || !result.ok || !result.dryRun) throw new Error(`dry-run did not end with an ok result: ${r.stdout.slice(-500)}`);
    return r;
  };
  const cold = () => {
    rmSync(checks, { recursive: true, force: true });
    return once();
  };
  // The warm run finds the verdict the previous run (cold or warm) kept.
  const warmRuns = [];
  let turn = 0;
  const dryRun = async () => {
    let c;
    if (turn++ % 2) {
      c = await cold();
      warmRuns.push(await once());
    } else {
      warmRuns.push(await once());
      c = await cold();
    }
    return c;
  };
  const baseline = async () => {
    const node = await timed(process.execPath, ['-e', '0']);
    const helm = await timed(HELM, templateArgs, { timeoutMs: 120_000 });
    return { ms: node.ms + helm.ms, node: node.ms, helm: helm.ms };
  };

  log(`planning: warm-up`);
  await cold();
  await once();
  await baseline();
  warmRuns.length = 0;
  const before = treeDigest(sb.info.snapData);
  const { runs, others, mine, theirs: base, ratios } = await alternate({ pairs, budgetMs, mine: dryRun, theirs: baseline });
  const helmMs = others.map((b) => b.helm);
  const warmMs = warmRuns.map((r) => r.ms);
  const warmRatios = warmMs.map((ms, i) => ms / base[i]);
  const wrote = digestDiff(before, treeDigest(sb.info.snapData));
  log(`planning: ${ratios.length} pairs, median ratio ${fmt(median(ratios))} cold, ${fmt(median(warmRatios))} warm`);
  const row = {
    section: '2 planning',
    name: 'enable cilium:v1.8 --dry-run --force (sandbox 1.20), COLD: check cache emptied before each run',
    baseline: 'node -e 0 + helm template (same values)',
    unit: 'x',
    target: 1.5,
    ratios: summary(ratios),
    mine: summary(mine),
    base: summary(base),
    note: `cold ${fmt(median(mine), 0)} ms vs ${fmt(median(base), 0)} ms (helm template ${fmt(median(helmMs), 0)} ms); warm (next row) ${fmt(median(warmMs), 0)} ms; dry-runs wrote ${wrote.length ? wrote.join(' ') : 'nothing'}`,
  };
  if (wrote.length) row.verdictText = 'MISSED (wrote files)';
  const warmRow = {
    section: '2 planning',
    name: 'the same, WARM: the render check\'s verdict kept from the run before (no helm template); for information, the target is judged on the cold row',
    baseline: 'the same baseline runs',
    unit: 'x',
    ratios: summary(warmRatios),
    mine: summary(warmMs),
    base: summary(base),
    note: `warm ${fmt(median(warmMs), 0)} ms vs ${fmt(median(base), 0)} ms; the cold row's target (1.5x) is not judged here`,
  };
  let details = `planning: where a cold dry-run's time goes (median over ${runs.length} runs, from its JSON events):\n${timeline(runs)}`;
  details += `planning: where a warm dry-run's time goes (median over ${warmRuns.length} runs):\n${timeline(warmRuns)}`;
  if (profile || row.ratios.median > row.target) details += await explainPlanning(sb, templateArgs, env);
  return { rows: [row, warmRow], details };
}

/** The profile of one dry-run, the modules it loads, and what the post-renderer adds to a `helm template`. */
async function explainPlanning(sb, templateArgs, env) {
  // Cold, as the row: the check cache emptied before each explained run.
  const cold = () => {
    rmSync(env.MK8S_ADDONS_CHECK_CACHE, { recursive: true, force: true });
    return { env };
  };
  let out = `\n${printProfile(`profile: mk8s-addons ${DRY_RUN_ARGS.join(' ')} (cold)`, await profileCli(DRY_RUN_ARGS, cold()))}`;
  const census = await importCensus(DRY_RUN_ARGS, cold());
  out += printCensus('modules loaded by the dry-run (cold)', census);
  out += printImportCost(await importCost(heaviestPackages(census)));
  out += printChildren('processes started by a dry-run (cold)', await childTimeline(DRY_RUN_ARGS, cold()));
  const { ciliumPostRenderer } = await import(path.join(ROOT, 'dist', 'src', 'cilium', 'post-render.js'));
  const pr = ciliumPostRenderer('1.8.13', sb.info.snapData);
  if (pr) {
    const withPr = [...templateArgs, '--post-renderer', pr[0], ...pr[1].flatMap((a) => ['--post-renderer-args', a])];
    const plain = [];
    const post = [];
    for (let i = 0; i < 5; i++) {
      if (i % 2) {
        plain.push((await timed(HELM, templateArgs)).ms);
        post.push((await timed(HELM, withPr)).ms);
      } else {
        post.push((await timed(HELM, withPr)).ms);
        plain.push((await timed(HELM, templateArgs)).ms);
      }
    }
    out += `helm template with mk8s-addons' post-renderer (a second Node process, scripts/post-render-hostpath.mjs) vs without, 5 alternating pairs: median ${fmt(median(post), 0)} ms vs ${fmt(median(plain), 0)} ms\n`;
  }
  return out;
}
