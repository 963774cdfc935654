// Row 2, planning: `enable cilium:v1.8 --dry-run --force` on a sandbox node (start-up, plan, values, the
// compatibility read, the cilium hook's `helm template` render check, every step's check) against a bare
// `node -e 0` plus the same `helm template` call (same chart, namespace, values file and --kube-version),
// alternating which side goes first. Also checks that the dry-runs wrote nothing under $SNAP_DATA.
import path from 'node:path';
import { HELM, ROOT, alternate, cli, digestDiff, eventsOf, kubeVersion, log, summary, timed, treeDigest, ciliumValuesFile, fmt, median } from './lib.mjs';
import { timeline } from './report.mjs';
import { childTimeline, heaviestPackages, importCensus, importCost, printChildren, printCensus, printImportCost, printProfile, profileCli } from './profile.mjs';

export const DRY_RUN_ARGS = ['enable', 'cilium:v1.8', '--dry-run', '--force', '--output', 'json'];

export async function benchPlanning(sb, { pairs = 10, budgetMs = 120_000, profile = false } = {}) {
  const kv = await kubeVersion(sb.cp);
  const { chart, file } = await ciliumValuesFile(sb, '1.8.13', path.join(sb.dir, 'bench-values-1.8.13.json'));
  const templateArgs = ['template', 'cilium', chart, '--namespace', 'kube-system', '--values', file, '--kube-version', kv];
  const dryRun = async () => {
    const r = await cli(DRY_RUN_ARGS, { env: sb.env, timeoutMs: 120_000 });
    const result = eventsOf(r.stdout).at(-1);
    if (result?.type !== 'result' || !result.ok || !result.dryRun) throw new Error(`dry-run did not end with an ok result: ${r.stdout.slice(-500)}`);
    return r;
  };
  const baseline = async () => {
    const node = await timed(process.execPath, ['-e', '0']);
    const helm = await timed(HELM, templateArgs, { timeoutMs: 120_000 });
    return { ms: node.ms + helm.ms, node: node.ms, helm: helm.ms };
  };

  log(`planning: warm-up`);
  await dryRun();
  await baseline();
  const before = treeDigest(sb.info.snapData);
  const { runs, others, mine, theirs: base, ratios } = await alternate({ pairs, budgetMs, mine: dryRun, theirs: baseline });
  const helmMs = others.map((b) => b.helm);
  const wrote = digestDiff(before, treeDigest(sb.info.snapData));
  log(`planning: ${ratios.length} pairs, median ratio ${fmt(median(ratios))}`);
  const row = {
    section: '2 planning',
    name: 'enable cilium:v1.8 --dry-run --force (sandbox 1.20)',
    baseline: 'node -e 0 + helm template (same values)',
    unit: 'x',
    target: 1.5,
    ratios: summary(ratios),
    mine: summary(mine),
    base: summary(base),
    note: `${fmt(median(mine), 0)} ms vs ${fmt(median(base), 0)} ms (helm template ${fmt(median(helmMs), 0)} ms); dry-runs wrote ${wrote.length ? wrote.join(' ') : 'nothing'}`,
  };
  if (wrote.length) row.verdictText = 'MISSED (wrote files)';
  let details = `planning: where a dry-run's time goes (median over ${runs.length} runs, from its JSON events):\n${timeline(runs)}`;
  if (profile || row.ratios.median > row.target) details += await explainPlanning(sb, templateArgs);
  return { rows: [row], details };
}

/** The profile of one dry-run, the modules it loads, and what the post-renderer adds to a `helm template`. */
async function explainPlanning(sb, templateArgs) {
  let out = `\n${printProfile(`profile: mk8s-addons ${DRY_RUN_ARGS.join(' ')}`, await profileCli(DRY_RUN_ARGS, { env: sb.env }))}`;
  const census = await importCensus(DRY_RUN_ARGS, { env: sb.env });
  out += printCensus('modules loaded by the dry-run', census);
  out += printImportCost(await importCost(heaviestPackages(census)));
  out += printChildren('processes started by a dry-run', await childTimeline(DRY_RUN_ARGS, { env: sb.env }));
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
