import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import path from 'node:path';
import { ROOT, runCli } from '../support/cli.js';
import { defaultGlobals, type GlobalOptions, type OutputMode } from '../../src/grammar.js';
import { PreconditionError, UsageError } from '../../src/errors.js';
import { checkDatapath, parseDatapathArgs, runDatapath, type DatapathArgs } from '../../src/commands/datapath.js';
import { datapathHelp } from '../../src/datapath/render.js';
import { SAVED_NOTE } from '../../src/datapath/saved.js';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'datapath');
const fixturePath = (name: string) => path.join(FIXTURES, name);

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function datapath(words: string[], output: OutputMode = 'plain'): Promise<{ code: number; stdout: string; stderr: string; globals: GlobalOptions }> {
  const globals = defaultGlobals();
  const stdout = new Collect();
  const stderr = new Collect();
  const code = await runDatapath(words, globals, () => globals.output ?? output, { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text, globals };
}

test('parseDatapathArgs: its options, --output, --help', () => {
  const table: [string[], DatapathArgs, Partial<GlobalOptions>][] = [
    [[], {}, {}],
    [['--netns', 'cilium-test'], { netns: 'cilium-test' }, {}],
    [['--netns=ns1', '--cilium-version', 'v1.16.3', '--output=json'], { netns: 'ns1', ciliumVersion: 'v1.16.3' }, { output: 'json' }],
    [['--from', 'saved.txt', '--output', 'pretty'], { from: 'saved.txt' }, { output: 'pretty' }],
    [['-h'], {}, { help: true }],
    [['--help', '--from=x'], { from: 'x' }, { help: true }],
  ];
  for (const [words, args, globals] of table) {
    const g = defaultGlobals();
    assert.deepEqual(parseDatapathArgs(words, g), args, words.join(' '));
    assert.deepEqual(g, { ...defaultGlobals(), ...globals }, words.join(' '));
  }
});

test('parseDatapathArgs: each mistake says what to do instead', () => {
  const table: [string[], string][] = [
    [['--bogus'], 'unknown option --bogus for datapath; run "mk8s-addons datapath --help"'],
    [['--dry-run'], 'unknown option --dry-run for datapath; run "mk8s-addons datapath --help"'],
    [['--timeout=5m'], 'unknown option --timeout for datapath; run "mk8s-addons datapath --help"'],
    [['lxc_health'], 'datapath takes no arguments; got "lxc_health" (run "mk8s-addons datapath --help")'],
    [['--netns'], '--netns needs a value: --netns NAME'],
    [['--netns', '--from', 'x'], '--netns needs a value: --netns NAME'],
    [['--from='], '--from needs a value: --from FILE'],
    [['--cilium-version'], '--cilium-version needs a value: --cilium-version V'],
    [['--output'], '--output needs a value: --output pretty|plain|json'],
    [['--cilium-version', 'latest'], 'invalid --cilium-version "latest": give a Cilium version such as 1.8 or 1.16.3'],
    [['--output', 'yaml'], 'invalid --output "yaml": use pretty, plain or json'],
    [['--netns', 'a', '--netns', 'b'], '--netns is given twice; give it once'],
    [['--from', 'a', '--netns', 'b'], '--from reads saved output and --netns a live namespace: give one of them'],
  ];
  for (const [words, message] of table) {
    assert.throws(() => parseDatapathArgs(words, defaultGlobals()), new UsageError(message), words.join(' '));
  }
});

test('datapath --help prints its own help', async () => {
  const r = await datapath(['--help']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, datapathHelp());
  assert.match(r.stdout, /^Usage: mk8s-addons datapath \[--output pretty\|plain\|json\] \[--netns NAME\] \[--from FILE\] \[--cilium-version V\]\n/);
});

test('datapath --from: the field notes node is complete (the whole report)', async () => {
  const r = await datapath(['--from', fixturePath('field-notes-1.8-bpftool.txt'), '--cilium-version', '1.8']);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  assert.equal(
    r.stdout,
    `Cilium datapath complete: 10 interfaces, 13 programs (iproute2 loader naming, judged against Cilium 1.8; read with bpftool net list)

INTERFACE             TYPE         HOOK            PROGRAM         NAME                                ID
eno1np0(3)            netdev       clsact/ingress  from-netdev     bpf_netdev_eno1np0.o:[from-netdev]  12098
eno1np0(3)            netdev       clsact/egress   to-netdev       bpf_netdev_eno1np0.o:[to-netdev]    12104
cilium_net(913)       cilium_net   clsact/ingress  to-host         bpf_host_cilium_net.o:[to-host]     12092
cilium_host(914)      cilium_host  clsact/ingress  to-host         bpf_host.o:[to-host]                12080
cilium_host(914)      cilium_host  clsact/egress   from-host       bpf_host.o:[from-host]              12086
cilium_vxlan(930)     overlay      clsact/ingress  from-overlay    bpf_overlay.o:[from-overlay]        12050
cilium_vxlan(930)     overlay      clsact/egress   to-overlay      bpf_overlay.o:[to-overlay]          12055
lxc_health(954)       endpoint     clsact/ingress  from-container  bpf_lxc.o:[from-container]          12068
lxcf221c8fd6baa(956)  endpoint     clsact/ingress  from-container  bpf_lxc.o:[from-container]          12110
lxcbe9057961e74(958)  endpoint     clsact/ingress  from-container  bpf_lxc.o:[from-container]          12116
lxc9e21f2e97a0b(960)  endpoint     clsact/ingress  from-container  bpf_lxc.o:[from-container]          12140
lxc82cff8197450(962)  endpoint     clsact/ingress  from-container  bpf_lxc.o:[from-container]          12142
lxca5c9a6d90e69(964)  endpoint     clsact/ingress  from-container  bpf_lxc.o:[from-container]          12122

Notes:
  - ${SAVED_NOTE}
`,
  );
});

test('datapath --from: tcx programs show their link ids; problems are listed', async () => {
  const r = await datapath(['--from', fixturePath('tcx-1.16-mixed-bpftool.json')], 'pretty');
  assert.equal(r.code, 1);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'Cilium datapath incomplete: 5 problems (tcx naming, judged by the naming found; read with bpftool -j net list)');
  assert.equal(lines.includes('eth0(2)              netdev       tcx/ingress     from-netdev     cil_from_netdev                     2408 (link 59)'), true, r.stdout);
  assert.equal(lines.includes('lxc_health(8)        endpoint     xdp (generic)   -               -                                   2600'), true, r.stdout);
  assert.equal(lines.filter((l) => l.startsWith('  - ')).length, 6, '5 problems and 1 note');
});

test('datapath --from --output json: one line with the verdict', async () => {
  const r = await datapath(['--from', fixturePath('kernel-iproute2-broken-bpftool.txt'), '--output', 'json']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout.endsWith('}\n'), true);
  assert.equal(r.stdout.split('\n').length, 2, 'one line');
  const event = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(event), ['type', 'complete', 'era', 'interfaces', 'problems', 'ciliumVersion', 'source', 'notes']);
  assert.equal(event.type, 'datapath');
  assert.equal(event.complete, false);
  assert.equal(event.era, 'iproute2');
  assert.equal(event.source, 'bpftool-text');
  assert.deepEqual(
    (event.problems as { interface: string; hook: string }[]).map((p) => [p.interface, p.hook]),
    [
      ['lxcffeeddccbbaa', 'ingress'],
      ['cilium_net', 'ingress'],
      ['cilium_host', 'ingress'],
    ],
  );
  const interfaces = event.interfaces as { name: string; attachments: Record<string, unknown>[] }[];
  assert.deepEqual(interfaces[0], {
    name: 'lxc0a1b2c3d4e5f',
    ifindex: 3,
    type: 'endpoint',
    attachments: [
      {
        interface: 'lxc0a1b2c3d4e5f',
        ifindex: 3,
        kind: 'clsact',
        hook: 'ingress',
        name: 'bpf_lxc.o:[from-container]',
        object: 'bpf_lxc.o',
        section: 'from-container',
        function: null,
        role: 'from-container',
        era: 'iproute2',
        programId: 191,
        linkId: null,
      },
    ],
  });
});

test('datapath --from a file that is missing or not a listing', async () => {
  await assert.rejects(
    datapath(['--from', fixturePath('nope.txt')]),
    new UsageError(`cannot read --from ${fixturePath('nope.txt')}: no such file; give the file holding the saved bpftool or tc output`),
  );
  await assert.rejects(
    datapath(['--from', fixturePath('README.md')]),
    new UsageError(
      `cannot tell what ${fixturePath('README.md')} holds: give the output of bpftool -j net list, bpftool net list, or tc filter show dev IF ingress with its command line`,
    ),
  );
});

test('checkDatapath: missing tools are a precondition that names the packages', async () => {
  await assert.rejects(
    checkDatapath({ tools: { bpftool: null, tc: null, ip: null } }),
    new PreconditionError(
      'neither bpftool nor tc and ip are installed, so the attachments cannot be read: apt-get install bpftool iproute2 (on Ubuntu: apt-get install iproute2 linux-tools-common linux-tools-$(uname -r))',
    ),
  );
  await assert.rejects(
    checkDatapath({ netns: 'x', tools: { ip: null } }),
    new PreconditionError('--netns needs ip from iproute2, which is not installed: apt-get install iproute2'),
  );
  await assert.rejects(checkDatapath({ ciliumVersion: 'next' }), new UsageError('invalid --cilium-version "next": give a Cilium version such as 1.8 or 1.16.3'));
});

test('the CLI: exit codes 0, 1 and 2 for datapath --from', () => {
  const ok = runCli(['datapath', '--from', fixturePath('cilium-ebpf-1.14-tc.txt')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^Cilium datapath complete: 7 interfaces, 10 programs \(cilium\/ebpf loader naming, judged by the naming found; read with tc filter show\)\n/);
  const broken = runCli(['datapath', '--from', fixturePath('cilium-ebpf-1.14-broken-bpftool.txt'), '--cilium-version', '1.14.19']);
  assert.equal(broken.code, 1);
  // (eth0 without to-netdev is no problem: the listing does not say Cilium needs its devices)
  assert.match(broken.stdout, /^Cilium datapath incomplete: 8 problems/);
  const usage = runCli(['datapath', '--from', fixturePath('nope.txt'), '--output', 'json']);
  assert.equal(usage.code, 2);
  assert.deepEqual(
    usage.stdout.trim().split('\n').map((l) => JSON.parse(l)),
    [
      {
        type: 'error',
        code: 'usage',
        phase: null,
        message: `cannot read --from ${fixturePath('nope.txt')}: no such file; give the file holding the saved bpftool or tc output`,
      },
      { type: 'result', ok: false, changed: 0, restarts: {} },
    ],
  );
  const unknown = runCli(['datapath', '--frm', 'x']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr, 'mk8s-addons: error: unknown option --frm for datapath; run "mk8s-addons datapath --help"\n');
});
