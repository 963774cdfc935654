/**
 * `mk8s-addons completion bash|zsh|fish` (issue 16, part 4): the generated scripts loaded into the real
 * shells. bash: `complete -p` names the function, and the function (which filters with compgen) is called
 * with the COMP_LINE / COMP_POINT bash sets. fish: `complete -C LINE`, fish's own completion of a line. zsh:
 * the function run in zsh with the words / CURRENT / PREFIX its completion system sets, compadd recorded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { runCli, ROOT } from '../support/cli.js';
import { completionSpec } from '../../src/completion/spec.js';
import { loadCatalogue } from '../../src/adapters/catalogue-files.js';

const VERSIONS = ['1.8.0', '1.8.13', '1.9.0', '1.9.18', '1.10.20', '1.11.20', '1.12.19', '1.13.18', '1.14.19', '1.15.19', '1.16.19', '1.17.18', '1.18.12', '1.19.6', '1.20.0'];
const COMMANDS = ['enable', 'disable', 'list', 'status', 'reset', 'apply', 'start', 'stop', 'sandbox', 'datapath', 'cilium', 'microk8s-repo', 'nodes', 'completion'];
const sorted = (xs: string[]) => [...xs].sort();

/** Line typed (cursor at its end) -> every candidate the shell offers, as whole words. */
const CASES: [string, string[]][] = [
  ['mk8s-addons ', COMMANDS],
  ['mk8s-addons st', ['status', 'start', 'stop']],
  ['mk8s-addons --output json st', ['status', 'start', 'stop']],
  ['mk8s-addons --output ', ['pretty', 'plain', 'json']],
  ['mk8s-addons enable ', ['cilium', 'dns', 'helm3', 'hubble']],
  ['mk8s-addons enable cilium:1.9', ['cilium:1.9.0', 'cilium:1.9.18']],
  ['mk8s-addons enable cilium:v1.1', ['cilium:v1.10', 'cilium:v1.11', 'cilium:v1.12', 'cilium:v1.13', 'cilium:v1.14', 'cilium:v1.15', 'cilium:v1.16', 'cilium:v1.17', 'cilium:v1.18', 'cilium:v1.19']],
  ['mk8s-addons enable dns:1.1.1.1 hubble:', ['hubble:ui']],
  ['mk8s-addons enable cilium --version 1.8', ['1.8.0', '1.8.13']],
  ['mk8s-addons enable cilium --set-', ['--set-string']],
  ['mk8s-addons enable hubble --u', ['--ui']],
  ['mk8s-addons disable cilium --dry', ['--dry-run']],
  ['mk8s-addons status --format ', ['pretty', 'yaml', 'json']],
  ['mk8s-addons status -a h', ['helm3', 'hubble']],
  ['mk8s-addons status --w', ['--wait-ready']],
  ['mk8s-addons sandbox ', ['up', 'status', 'env', 'down']],
  ['mk8s-addons sandbox up --layout ', ['1.20', '1.35']],
  ['mk8s-addons microk8s-repo ', ['install', 'remove', 'status']],
  ['mk8s-addons completion ', ['bash', 'zsh', 'fish']],
  ['mk8s-addons --vers', ['--version']],
];

function script(shell: string, env: NodeJS.ProcessEnv = {}): string {
  const r = runCli(['completion', shell], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout;
}

function shell(file: string, args: string[], input: string): string {
  const r = spawnSync(file, args, { input, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: '/nonexistent', TERM: 'dumb' } });
  assert.equal(r.status, 0, `${file} exited with ${r.status}: ${r.stderr}`);
  assert.equal(r.stderr, '', `${file} wrote to stderr`);
  return r.stdout;
}

test('bash: complete -p names the function; every case completes as expected', () => {
  const lines = CASES.map(([line]) => `t ${JSON.stringify(line)}`).join('\n');
  const out = shell('bash', ['--norc', '--noprofile'], `${script('bash')}
complete -p mk8s-addons
t() { COMP_LINE="$1"; COMP_POINT=\${#1}; COMPREPLY=(); _mk8s_addons; printf '%s\\n' "\${COMPREPLY[*]}"; }
${lines}
`).split('\n');
  assert.equal(out[0], 'complete -F _mk8s_addons mk8s-addons');
  CASES.forEach(([line, want], i) => {
    // bash completes only the part after the last ":" of the word (":" is in COMP_WORDBREAKS).
    const cur = line.split(' ').at(-1) as string;
    const colon = cur.includes(':') ? cur.slice(0, cur.lastIndexOf(':') + 1) : '';
    assert.deepEqual(sorted((out[i + 1] as string).split(' ').filter(Boolean)), sorted(want.map((w) => w.slice(colon.length))), `bash: ${line}`);
  });
});

test('bash: options that take a file or a folder complete paths (compgen -f / -d)', () => {
  const out = shell('bash', ['--norc', '--noprofile'], `${script('bash')}
cd ${JSON.stringify(path.join(ROOT, 'test', 'fixtures'))}
t() { COMP_LINE="$1"; COMP_POINT=\${#1}; COMPREPLY=(); _mk8s_addons; printf '%s\\n' "\${COMPREPLY[*]}"; }
t "mk8s-addons apply -f app"
t "mk8s-addons --snap-data add"
`).split('\n');
  // What compgen finds in test/fixtures: the folders whose name starts with "add", as the folder holds them.
  const folders = readdirSync(path.join(ROOT, 'test', 'fixtures'), { withFileTypes: true }).filter((e) => e.isDirectory() && e.name.startsWith('add')).map((e) => e.name);
  assert.ok(folders.includes('addons'));
  assert.deepEqual([out[0], sorted((out[1] ?? '').split(' '))], ['apply', sorted(folders)]);
});

test('fish: complete -C gives the same candidates', () => {
  const fishScript = script('fish');
  for (const [line, want] of CASES) {
    const out = shell('fish', ['--no-config', '-c', `${fishScript}\ncomplete -C ${JSON.stringify(line)}`], '');
    assert.deepEqual(sorted(out.split('\n').filter(Boolean).map((l) => l.split('\t')[0] as string)), sorted(want), `fish: ${line}`);
  }
});

test('zsh: the function offers the same candidates', () => {
  // compadd exists only inside a completion widget: here a function records what it is given, filtered by
  // PREFIX as compadd filters.
  const calls = CASES.map(([line]) => {
    const words = line.split(' ');
    return `t ${words.map((w) => JSON.stringify(w)).join(' ')}`;
  }).join('\n');
  const out = shell('zsh', ['-f'], `autoload -U compinit && compinit -u -D
${script('zsh')}
compadd() { [[ $1 == -a ]] && print -r -- \${(M)\${(P)2}:#\${PREFIX}*} }
t() { words=("$@"); CURRENT=$#; PREFIX="\${@[-1]}"; _mk8s_addons; print -r -- '--' }
${calls}
`);
  const groups = out.split('--\n');
  CASES.forEach(([line, want], i) => {
    assert.deepEqual(sorted((groups[i] as string).trim().split(/\s+/).filter(Boolean)), sorted(want), `zsh: ${line}`);
  });
  assert.match(script('zsh'), /^#compdef mk8s-addons\n/);
});

test('generated from the catalogue: another catalogue, other names', () => {
  const dir = path.join(ROOT, 'test', 'fixtures', 'addons');
  const names = readdirSync(dir).filter((d) => existsSync(path.join(dir, d, 'manifest.yaml'))).sort();
  assert.ok(names.length > 0);
  const out = script('bash', { MK8S_ADDONS_ADDONS_DIR: dir });
  assert.ok(out.includes(`cands=(${names.join(' ')})`), `the addon names of ${dir}`);
  assert.doesNotMatch(out, /hubble/);
});

test("every command option completion offers is one the command's --help documents", async () => {
  const spec = completionSpec(await loadCatalogue());
  for (const c of spec.commands) {
    const help = runCli([c.name, '--help']).stdout;
    for (const flag of c.options.flatMap((o) => o.flags)) assert.ok(help.includes(flag), `${c.name} --help mentions ${flag}`);
    for (const sub of c.subcommands) assert.ok(help.includes(sub), `${c.name} --help mentions ${sub}`);
  }
  assert.deepEqual(spec.addons.find((a) => a.name === 'cilium')?.options.find((o) => o.flags[0] === '--version')?.value, { kind: 'words', words: VERSIONS });
});

test('bad input: exit 2, one line, nothing on stdout', () => {
  for (const [args, message] of [
    [['completion'], 'completion needs a shell: mk8s-addons completion bash|zsh|fish'],
    [['completion', 'tcsh'], 'unknown shell "tcsh": mk8s-addons completion bash|zsh|fish'],
    [['completion', 'bash', 'zsh'], 'completion takes one shell; got "bash zsh": mk8s-addons completion bash|zsh|fish'],
    [['completion', 'bash', '--name', 'x'], 'unknown option --name for completion; run "mk8s-addons completion --help"'],
  ] as [string[], string][]) {
    const r = runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `mk8s-addons: error: ${message}\n`);
  }
});
