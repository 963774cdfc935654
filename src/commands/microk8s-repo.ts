/**
 * `mk8s-addons microk8s-repo install [--name NAME] | remove [--name NAME] | status [--name NAME]`: a MicroK8s
 * addons repository in `$SNAP_COMMON/addons/NAME/` (src/microk8s/repository.ts) so that `microk8s enable
 * cilium:v1.8`, `microk8s disable cilium` and `microk8s status` go through mk8s-addons. And
 * `microk8s-repo hook enable|disable ADDON [ARG...]`, what the repository's hooks run.
 *
 * Not an engine pipeline: the repository is written into a temporary folder beside its place and renamed
 * into place (a previous one of ours renamed away first, then removed), so MicroK8s sees either no
 * repository or a whole one, and there is nothing half-done to roll back. It changes nothing of the node's
 * Kubernetes: addons keep their state, `remove` leaves `$SNAP_COMMON` as it was before `install`.
 */
import path from 'node:path';
import type { GlobalOptions, OutputMode } from '../grammar.js';
import { parseCommandWords } from '../grammar.js';
import type { Streams } from './index.js';
import { MICROK8S_REPO_HELP } from '../help.js';
import { EXIT, PreconditionError, UsageError } from '../errors.js';
import { canWrite, exists, listDir, readText, removeTree, rename, writeAtomic } from '../adapters/fs.js';
import { packagePath } from '../adapters/package-files.js';
import { loadCatalogue } from '../adapters/catalogue-files.js';
import { resolveSnapPaths } from '../node/node.js';
import { loadJournal, syncEnabledMarkers, enabledMarkerDir } from '../engine/journal.js';
import { decodeNodeRequest, NODE_ADDON } from '../cluster/payload.js';
import { checkRepositoryName, DEFAULT_REPOSITORY_NAME, hookWords, microk8sArch, OWNER_FILE, repositoryFiles, type Launcher } from '../microk8s/repository.js';

const SUBCOMMANDS = ['install', 'remove', 'status', 'hook'] as const;

/**
 * How the hooks start this mk8s-addons: the snap's command, else this node binary with this CLI. With
 * MK8S_ADDONS_EXTRA_ADDONS set at install, the hooks set it too (MicroK8s does not pass our environment),
 * so the extra addons it listed are found when MicroK8s runs their hooks.
 */
export function launcherFor(env: NodeJS.ProcessEnv, execPath: string): Launcher {
  const extra = (env.MK8S_ADDONS_EXTRA_ADDONS ?? '').split(path.delimiter).filter((d) => d !== '').map((d) => path.resolve(d));
  const withExtra = (launcher: string[]): Launcher => (extra.length ? ['/usr/bin/env', `MK8S_ADDONS_EXTRA_ADDONS=${extra.join(path.delimiter)}`, ...launcher] : launcher);
  if (env.SNAP_NAME === 'mk8s-addons') return withExtra(['/snap/bin/mk8s-addons']);
  return withExtra([execPath, packagePath('dist', 'bundle', 'src', 'cli.js')]);
}

interface RepoContext {
  addonsDir: string;
  name: string;
  dir: string;
}

/** Whether `dir` is a repository mk8s-addons wrote (undefined: there is nothing). */
async function ownership(dir: string): Promise<'ours' | 'foreign' | undefined> {
  if (!(await exists(dir))) return undefined;
  const owner = await readText(path.join(dir, OWNER_FILE));
  try {
    return owner !== undefined && (JSON.parse(owner) as { writtenBy?: string }).writtenBy === 'mk8s-addons' ? 'ours' : 'foreign';
  } catch {
    return 'foreign';
  }
}

async function context(words: string[], globals: GlobalOptions): Promise<{ sub: (typeof SUBCOMMANDS)[number]; repo: RepoContext; snapData: string } | undefined> {
  const { options, positional } = parseCommandWords('microk8s-repo', words, globals, [{ flag: '--name', type: 'string' }]);
  if (globals.help) return undefined;
  const [sub, ...extra] = positional;
  if (sub === undefined || !(SUBCOMMANDS as readonly string[]).includes(sub) || sub === 'hook') {
    throw new UsageError(`microk8s-repo needs install, remove or status${sub === undefined ? '' : `, not "${sub}"`}: mk8s-addons microk8s-repo install [--name NAME]`);
  }
  if (extra.length) throw new UsageError(`microk8s-repo ${sub} takes no arguments; got "${extra.join(' ')}" (the repository's name: --name NAME)`);
  const name = checkRepositoryName((options.get('--name') as string | undefined) ?? DEFAULT_REPOSITORY_NAME);
  const paths = resolveSnapPaths(globals, process.env);
  const addonsDir = path.join(paths.snapCommon, 'addons');
  return { sub: sub as (typeof SUBCOMMANDS)[number], repo: { addonsDir, name, dir: path.join(addonsDir, name) }, snapData: paths.snapData };
}

export async function runMicrok8sRepo(words: string[], globals: GlobalOptions, outputOf: () => OutputMode, io: Streams): Promise<number> {
  if (words[0] === 'hook') return runHook(words.slice(1), globals, outputOf, io);
  const ctx = await context(words, globals);
  if (!ctx) {
    io.stdout.write(MICROK8S_REPO_HELP);
    return EXIT.ok;
  }
  const { sub, repo, snapData } = ctx;
  const json = outputOf() === 'json';
  const say = (line: string, event: Record<string, unknown>) => io.stdout.write(json ? `${JSON.stringify({ type: 'microk8s-repo', ...event })}\n` : `${line}\n`);
  const owner = await ownership(repo.dir);

  if (sub === 'status') {
    if (owner !== 'ours') {
      say(`repository ${repo.name}: not installed in ${repo.addonsDir}${owner === 'foreign' ? ' (a folder of that name is there, not written by mk8s-addons)' : ''}`, { name: repo.name, dir: repo.dir, installed: false });
      return EXIT.ok;
    }
    const info = JSON.parse((await readText(path.join(repo.dir, OWNER_FILE))) as string) as { version: string; launcher: string[] };
    const journal = await loadJournal(snapData);
    const markers = await listDir(enabledMarkerDir(snapData));
    const enabled = Object.keys(journal.addons).sort();
    const agree = markers.join(',') === enabled.join(',');
    say(
      `repository ${repo.name}: installed in ${repo.dir} by mk8s-addons ${info.version}; hooks run ${info.launcher.join(' ')}\n` +
        `enabled for MicroK8s (its check_status files): ${markers.join(', ') || 'none'}; in the journal: ${enabled.join(', ') || 'none'}${agree ? '' : ' (they disagree: run mk8s-addons microk8s-repo install again)'}`,
      { name: repo.name, dir: repo.dir, installed: true, version: info.version, launcher: info.launcher, microk8sEnabled: markers, journalEnabled: enabled, agree },
    );
    return EXIT.ok;
  }

  if (owner === 'foreign') {
    throw new UsageError(`${repo.dir} exists and was not written by mk8s-addons (no ${OWNER_FILE}); leave it alone and choose another name: --name NAME`);
  }

  if (sub === 'remove') {
    if (owner === undefined) {
      say(`repository ${repo.name}: not installed in ${repo.addonsDir}; nothing to remove`, { name: repo.name, dir: repo.dir, removed: false });
      return EXIT.ok;
    }
    if (globals.dryRun) {
      say(`would remove ${repo.dir}`, { name: repo.name, dir: repo.dir, removed: false, dryRun: true });
      return EXIT.ok;
    }
    if (!(await canWrite(repo.addonsDir))) throw new PreconditionError(`cannot write to ${repo.addonsDir}; run it as root (sudo mk8s-addons microk8s-repo remove)`);
    const aside = path.join(repo.addonsDir, `.${repo.name}.removed-${process.pid}`);
    await rename(repo.dir, aside);
    await removeTree(aside);
    say(`repository ${repo.name}: removed from ${repo.addonsDir}; microk8s enable no longer reaches mk8s-addons`, { name: repo.name, dir: repo.dir, removed: true });
    return EXIT.ok;
  }

  // install
  if (!(await exists(repo.addonsDir))) {
    throw new PreconditionError(`there is no ${repo.addonsDir}: MicroK8s 1.24 and later keep addon repositories there (older MicroK8s cannot run them, or --snap-common is not MicroK8s's); use mk8s-addons enable directly`);
  }
  const arch = microk8sArch(process.arch);
  if (!arch) throw new PreconditionError(`MicroK8s has no snap for this machine's architecture (${process.arch}); there is nothing to install a repository into`);
  const { version } = JSON.parse((await readText(packagePath('package.json'))) as string) as { version: string };
  const launcher = launcherFor(process.env, process.execPath);
  const { files } = repositoryFiles({ catalogue: await loadCatalogue(), launcher, arch, version, name: repo.name });
  if (globals.dryRun) {
    say(`would ${owner ? 'replace' : 'write'} ${repo.dir}: ${Object.keys(files).sort().join(', ')}`, { name: repo.name, dir: repo.dir, installed: false, dryRun: true, files: Object.keys(files).sort() });
    return EXIT.ok;
  }
  if (!(await canWrite(repo.addonsDir))) throw new PreconditionError(`cannot write to ${repo.addonsDir}; run it as root (sudo mk8s-addons microk8s-repo install)`);
  const tmp = path.join(repo.addonsDir, `.${repo.name}.new-${process.pid}`);
  try {
    for (const [rel, content] of Object.entries(files)) await writeAtomic(path.join(tmp, rel), content, { mode: rel.startsWith('addons/') ? 0o755 : 0o644 });
    // MicroK8s's status must read the journal's state from the first moment the repository is there.
    await syncEnabledMarkers(snapData, await loadJournal(snapData));
    const aside = path.join(repo.addonsDir, `.${repo.name}.old-${process.pid}`);
    if (owner === 'ours') await rename(repo.dir, aside);
    await rename(tmp, repo.dir);
    if (owner === 'ours') await removeTree(aside);
  } finally {
    await removeTree(tmp);
  }
  const names = Object.keys(files).filter((f) => f.endsWith('/enable')).map((f) => f.split('/')[1]);
  say(`repository ${repo.name}: ${owner ? 'updated' : 'installed'} in ${repo.dir} (${names.join(', ')}); microk8s enable ${names[0]} now runs ${launcher.join(' ')}`, {
    name: repo.name,
    dir: repo.dir,
    installed: true,
    addons: names,
    launcher,
  });
  return EXIT.ok;
}

/** `microk8s-repo hook enable|disable ADDON [ARG...]`: MicroK8s's hook arguments as an mk8s-addons command. */
async function runHook(words: string[], globals: GlobalOptions, outputOf: () => OutputMode, io: Streams): Promise<number> {
  const [action, addon, ...args] = words;
  if ((action !== 'enable' && action !== 'disable') || addon === undefined) {
    throw new UsageError('microk8s-repo hook is what the repository\'s hooks run: mk8s-addons microk8s-repo hook enable|disable ADDON [ARG...]');
  }
  if (addon === NODE_ADDON) {
    // Another node's fan-out, through this node's cluster agent (src/cluster/fan-out.ts).
    if (action !== 'enable' || args.length !== 1) throw new UsageError(`${NODE_ADDON} is run by mk8s-addons through the cluster agent, with one encoded argument; do not enable or disable it by hand`);
    const { runNodeLocal } = await import('../cluster/node-local.js');
    return runNodeLocal(decodeNodeRequest(args[0] as string), globals, io);
  }
  const { runCommand } = await import('./index.js');
  return runCommand(action, hookWords(addon, args), globals, outputOf(), io);
}
