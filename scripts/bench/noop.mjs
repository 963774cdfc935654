// Row 3, no-op re-run: `enable cilium:v1.8 --force` again on a sandbox where it is enabled, against
// `mk8s-addons status` on the same sandbox (`list` while the status command does not exist yet: the row
// says which), alternating which goes first. Every re-run must change nothing: its result event says
// changed 0 and restarts {}, the sandbox's service log (DIR/services/log.jsonl) gains no line, and no file
// under $SNAP_DATA differs (content, mode or mtime) after the run.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT, alternate, cli, digestDiff, digestHash, eventsOf, fmt, log, median, summary, treeDigest } from './lib.mjs';
import { timeline } from './report.mjs';
import { childTimeline, heaviestPackages, importCensus, importCost, printChildren, printCensus, printImportCost, printProfile, profileCli } from './profile.mjs';

export const ENABLE_ARGS = ['enable', 'cilium:v1.8', '--force', '--output', 'json'];

/** `status` once dist/src/commands/status.js exists and runs on the sandbox; `list` until then. */
async function comparison(sb) {
  if (existsSync(path.join(ROOT, 'dist', 'src', 'commands', 'status.js'))) {
    const r = await cli(['status'], { env: sb.env, allowFail: true, timeoutMs: 60_000 });
    if (r.code === 0) return { args: ['status'], label: 'mk8s-addons status' };
    log(`no-op: "status" exited ${r.code} on the sandbox (${r.stderr.trim().split('\n')[0]}): measuring against "list" instead`);
    return { args: ['list'], label: `mk8s-addons list (status exited ${r.code})` };
  }
  return { args: ['list'], label: 'mk8s-addons list (status not built yet)' };
}

export async function benchNoop(sb, { pairs = 10, budgetMs = 120_000, profile = false } = {}) {
  log('no-op: first enable on the sandbox');
  const first = await cli(ENABLE_ARGS, { env: sb.env, timeoutMs: 300_000 });
  if (eventsOf(first.stdout).at(-1)?.ok !== true) throw new Error(`the first enable failed: ${first.stdout.slice(-800)}`);
  const cmp = await comparison(sb);
  const against = () => cli(cmp.args, { env: sb.env, timeoutMs: 60_000 });

  const violations = { changed: 0, restarts: 0, logLines: 0, files: new Set(), badResult: 0 };
  const rerun = async () => {
    const digest = treeDigest(sb.info.snapData);
    const lines = sb.serviceLogLines();
    const r = await cli(ENABLE_ARGS, { env: sb.env, timeoutMs: 300_000 });
    const after = treeDigest(sb.info.snapData);
    const result = eventsOf(r.stdout).at(-1);
    if (result?.type !== 'result' || result.ok !== true) violations.badResult++;
    violations.changed += result?.changed ?? 0;
    violations.restarts += Object.values(result?.restarts ?? {}).reduce((a, b) => a + b, 0);
    violations.logLines += sb.serviceLogLines() - lines;
    for (const f of digestDiff(digest, after)) violations.files.add(f);
    return r;
  };

  log('no-op: warm-up');
  const startHash = digestHash(treeDigest(sb.info.snapData));
  await rerun();
  await against();
  const { runs, mine, theirs: base, ratios } = await alternate({ pairs, budgetMs, mine: rerun, theirs: against });
  const endHash = digestHash(treeDigest(sb.info.snapData));
  log(`no-op: ${ratios.length} pairs, median ratio ${fmt(median(ratios))}`);
  const clean = violations.changed === 0 && violations.restarts === 0 && violations.logLines === 0 && violations.files.size === 0 && violations.badResult === 0;
  const rows = [
    {
      section: '3 no-op re-run',
      name: 'enable cilium:v1.8 --force, already enabled',
      baseline: cmp.label,
      unit: 'x',
      target: 1.5,
      ratios: summary(ratios),
      mine: summary(mine),
      base: summary(base),
    },
    {
      section: '3 no-op re-run',
      name: 'writes and restarts over all re-runs',
      baseline: 'result event, services/log.jsonl, $SNAP_DATA',
      unit: 'count',
      targetText: '0',
      verdictText: clean ? 'ok' : 'MISSED',
      ratios: summary([violations.changed + violations.restarts + violations.logLines + violations.files.size + violations.badResult]),
      note: `${ratios.length + 1} re-runs: changed ${violations.changed}, restarts ${violations.restarts}, service-log lines +${violations.logLines}, files changed ${violations.files.size ? [...violations.files].join(' ') : 0}, failed ${violations.badResult}; $SNAP_DATA digest ${startHash} -> ${endHash}`,
    },
  ];
  let details = `no-op re-run: where its time goes (median over ${runs.length} runs, from its JSON events):\n${timeline(runs)}`;
  if (profile || rows[0].ratios.median > rows[0].target) {
    details += `\n${printProfile(`profile: mk8s-addons ${ENABLE_ARGS.join(' ')} (no-op)`, await profileCli(ENABLE_ARGS, { env: sb.env }))}`;
    const census = await importCensus(ENABLE_ARGS, { env: sb.env });
    details += printCensus('modules loaded by the no-op re-run', census);
    details += printImportCost(await importCost(heaviestPackages(census)));
    details += printChildren('processes started by a no-op re-run', await childTimeline(ENABLE_ARGS, { env: sb.env }));
    details += printCensus(`modules loaded by ${cmp.args.join(' ')}`, await importCensus(cmp.args, { env: sb.env }));
  }
  return { rows, details };
}
