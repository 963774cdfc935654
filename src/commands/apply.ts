/**
 * `mk8s-addons apply -f FILE [--prune]`: converges the node to a file that lists the addons it should
 * have (src/lifecycle/apply-file.ts), for headless CI. The file's entries become the same AddonSpec values
 * the command line gives, so the planner validates them with the CLI's messages; then, in one session
 * (one lock): with --prune, the installed addons the file does not need are disabled (dependants first),
 * and every listed addon is enabled, upgraded or reconfigured in dependency order. Steps already as
 * wanted are skipped by the engine, so applying the same file again changes nothing.
 */
import type { GlobalOptions, OutputMode, AddonSpec } from '../grammar.js';
import { parseCommandWords } from '../grammar.js';
import type { Streams } from './index.js';
import { EXIT, UsageError } from '../errors.js';
import { loadCatalogue } from '../adapters/catalogue-files.js';
import { readInputFile } from '../adapters/fs.js';
import { MAX_INPUT_BYTES } from '../input.js';
import type { Catalogue, AddonManifest } from '../catalogue.js';
import { applySpecs, parseApplyFile, specFromRecord } from '../lifecycle/apply-file.js';
import type { Journal } from '../engine/journal.js';
import { APPLY_HELP } from '../lifecycle/help.js';

/** The addons the file needs: the listed ones and everything they require. */
function closure(specs: readonly AddonSpec[], catalogue: Catalogue): Set<string> {
  const out = new Set<string>();
  const add = (name: string) => {
    if (out.has(name)) return;
    out.add(name);
    for (const dep of catalogue.get(name)?.requires ?? []) add(dep);
  };
  for (const s of specs) add(s.name);
  return out;
}

/**
 * The specs to enable: the file's, plus installed dependencies it does not list, kept as recorded
 * (otherwise the planner would give them their default version and arguments).
 */
function enableSpecs(specs: readonly AddonSpec[], wanted: ReadonlySet<string>, journal: Journal, catalogue: Catalogue): AddonSpec[] {
  const listed = new Set(specs.map((s) => s.name));
  const kept = [...wanted].filter((n) => !listed.has(n) && journal.addons[n]).sort();
  return [...kept.map((n) => specFromRecord(catalogue.get(n) as AddonManifest, journal.addons[n] as Journal['addons'][string])), ...specs];
}

export async function runApply(words: string[], globals: GlobalOptions, outputOf: () => OutputMode, io: Streams): Promise<number> {
  const { options, positional } = parseCommandWords('apply', words, globals, [
    { flag: '--file', short: '-f', type: 'string' },
    { flag: '--prune', type: 'boolean' },
  ]);
  if (globals.help) {
    io.stdout.write(APPLY_HELP);
    return EXIT.ok;
  }
  if (positional.length) throw new UsageError(`apply takes its addons from a file, not from arguments; got "${positional.join(' ')}": write mk8s-addons apply -f FILE`);
  const file = options.get('--file') as string | undefined;
  if (file === undefined) throw new UsageError('apply needs a file: mk8s-addons apply -f FILE (see "mk8s-addons apply --help")');
  const prune = options.has('--prune');

  const text = await readInputFile(file, file, MAX_INPUT_BYTES);
  if (text === undefined) throw new UsageError(`${file} does not exist; give the YAML file with -f FILE`);
  // Invalid input fails here, before anything on the node is touched.
  const catalogue = await loadCatalogue();
  const specs = applySpecs(parseApplyFile(text, file), catalogue);
  const output = outputOf();

  const { resolveSnapPaths } = await import('../node/node.js');
  const { isNode } = await import('../node/preflight.js');
  const paths = resolveSnapPaths(globals, process.env);
  if (globals.dryRun && !(await isNode(paths))) {
    // No node to compare with: the plan alone is what a dry-run can show.
    const { plan } = await import('../planner.js');
    const { renderPlan } = await import('../output/plan.js');
    if (specs.length) io.stdout.write(renderPlan(plan({ command: 'enable', specs, catalogue }), output));
    if (output !== 'json') io.stdout.write(`(no MicroK8s node at ${paths.snapData}: showing the plan without checking the node)\n`);
    return EXIT.ok;
  }

  const commandLine = ['mk8s-addons', 'apply', '-f', file, ...(prune ? ['--prune'] : [])].join(' ');
  const { withNodeSession } = await import('./run.js');
  const { plan } = await import('../planner.js');
  const { loadJournal } = await import('../engine/journal.js');
  const { plannedChanges, outcomes } = await import('../lifecycle/converge.js');

  return withNodeSession(globals, output, io, commandLine, async (s) => {
    const before = await loadJournal(s.paths.snapData);
    const wanted = closure(specs, catalogue);
    const toEnable = enableSpecs(specs, wanted, before, catalogue);
    const pruned = prune ? Object.keys(before.addons).filter((n) => !wanted.has(n)).sort() : [];
    const installed = new Map(Object.entries(before.addons).map(([n, a]) => [n, a.version]));
    const planned = toEnable.length ? plan({ command: 'enable', specs: toEnable, catalogue, installed, layout: s.layout }).addons : [];
    for (const c of plannedChanges(planned, before.addons, pruned, catalogue)) s.sink.note('apply', c.text);
    const unlisted = prune ? [] : Object.keys(before.addons).filter((n) => !wanted.has(n)).sort();
    if (unlisted.length) s.sink.note('apply', `left as they are (not in ${file}; --prune disables them): ${unlisted.join(', ')}`);

    const unknown = pruned.filter((n) => !catalogue.get(n));
    if (unknown.length) throw new UsageError(`cannot prune ${unknown.join(', ')}: this mk8s-addons does not know ${unknown.length > 1 ? 'them' : 'it'}; disable with the version that enabled ${unknown.length > 1 ? 'them' : 'it'}, or leave out --prune`);
    if (pruned.length) await s.runPlan('disable', pruned.map((name) => ({ raw: name, name, positional: [], flags: new Map() })), catalogue);
    if (toEnable.length) await s.runPlan('enable', toEnable, catalogue);

    if (globals.dryRun) {
      s.sink.note('apply', `dry run: ${file} was compared with the node; nothing was changed`);
    } else {
      const after = await loadJournal(s.paths.snapData);
      const done = outcomes(before.addons, after.addons, catalogue);
      s.sink.note('apply', done.length ? `${done.length} addon change(s): ${done.join(', ')}` : `the node already matches ${file}`);
    }
    s.sink.result({ ok: true, changed: s.stats.changed, restarts: s.stats.restarts, ...(globals.dryRun ? { dryRun: true } : {}) });
    return EXIT.ok;
  });
}
