/**
 * The dns addon on sandbox nodes of both layouts (issue 6 item 7), through the built CLI: a real
 * apiserver holds the CoreDNS objects, the node's args files are real files, kubelet restarts go to the
 * sandbox's service log (on 1.35 a kubelite restart restarts the real kube-apiserver). The tests of one
 * layout run in order on one sandbox, and each starts from the state the previous one left; one sandbox
 * runs at a time.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { connect, readObject, updateConfigMap, type ObjectRef } from '../../src/adapters/kube.js';
import { parseCorefile, printCorefile, setForwarders } from '../../src/dns/corefile.js';
import { isRunning } from '../../src/sandbox/control-plane.js';
import { treeDigest } from '../support/node.js';
import { useSandbox, type TestSandbox } from '../support/sandbox.js';

const DEFAULT_COREFILE = `.:53 {
    errors
    health
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . 8.8.8.8 8.8.4.4
    cache 30
    loop
    reload
    loadbalance
}
`;

/** The addon's objects, as `kubectl get` names them (namespaced ones in kube-system). */
const OBJECTS = ['configmap/coredns', 'deployment/coredns', 'service/kube-dns', 'serviceaccount/coredns', 'clusterrole/coredns', 'clusterrolebinding/coredns'];

/** The same objects as API references. */
const OBJECT_REFS: ObjectRef[] = [
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'coredns', namespace: 'kube-system' } },
  { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'coredns', namespace: 'kube-system' } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'kube-dns', namespace: 'kube-system' } },
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'coredns', namespace: 'kube-system' } },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'coredns' } },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'coredns' } },
];

type Json = Record<string, unknown> & { metadata: { uid: string; creationTimestamp: string; resourceVersion: string; labels?: Record<string, string> } };

const events = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const resultOf = (stdout: string) => events(stdout).at(-1);
/** Phases whose step ran and changed something ("done"), in order. */
const donePhases = (stdout: string) => events(stdout).filter((e) => e.type === 'step' && e.status === 'done').map((e) => e.phase);
const notesOf = (stdout: string) => events(stdout).filter((e) => e.type === 'note').map((e) => e.message);
/** The engine counts a rollout wait that had to wait as a change; kwok may have the pod ready before. */
const withoutRollout = (phases: unknown[]) => phases.filter((p) => p !== 'enable/dns/rollout');

for (const era of ['1.20', '1.35'] as const) {
  describe(`dns on a ${era} sandbox node`, () => {
    const sandbox = useSandbox(era);
    const daemon = era === '1.20' ? 'kubelet' : 'kubelite';
    let node: TestSandbox;
    /** args/kubelet and all of args/ before the first enable. */
    let kubeletBefore: string;
    let argsBefore: Record<string, string>;

    const kubeletFile = () => path.join(node.info.snapData, 'args', 'kubelet');
    const kubeletArgs = () => readFileSync(kubeletFile(), 'utf8');
    const get = async (what: string): Promise<Json> => {
      const ns = what.startsWith('cluster') ? [] : ['-n', 'kube-system'];
      return JSON.parse((await node.kubectl([...ns, 'get', what, '-o', 'json'])).stdout) as Json;
    };
    const corefile = async () => ((await get('configmap/coredns')).data as { Corefile: string }).Corefile;
    const identity = async (what: string) => {
      const { uid, creationTimestamp } = (await get(what)).metadata;
      return { uid, creationTimestamp };
    };
    /** Every object of the addon: its resourceVersion, or absent. */
    const clusterState = async () => {
      const out: Record<string, string> = {};
      for (const what of OBJECTS) {
        const ns = what.startsWith('cluster') ? [] : ['-n', 'kube-system'];
        const r = await node.kubectlAny([...ns, 'get', what, '-o', 'jsonpath={.metadata.resourceVersion}']);
        out[what] = r.exitCode === 0 ? r.stdout : 'absent';
      }
      return out;
    };
    /** What must not change when a command changes nothing: node files, service log, objects, apiserver. */
    const snapshot = async (opts: { journal?: boolean } = {}) => ({
      files: treeDigest(node.info.snapData, (rel) => opts.journal === false && rel.startsWith(path.join('var', 'mk8s-addons'))),
      log: await node.serviceLog(),
      cluster: await clusterState(),
      corefile: (await clusterState())['configmap/coredns'] === 'absent' ? undefined : await corefile(),
      apiserver: node.apiserver(),
    });
    const logFrom = async (n: number) => (await node.serviceLog()).slice(n).map(({ at: _at, ...rest }) => rest);

    test('enable dns with defaults: forwarders 8.8.8.8 8.8.4.4 (the host has only the 127.0.0.53 stub), every object, kubelet args, one restart', async () => {
      node = sandbox();
      kubeletBefore = kubeletArgs();
      argsBefore = treeDigest(path.join(node.info.snapData, 'args'));
      assert.equal(kubeletBefore.endsWith('\n'), true);
      const apiserver = node.apiserver();
      const logged = (await node.serviceLog()).length;

      const r = node.cli(['enable', 'dns', '--output', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.deepEqual(resultOf(r.stdout), { type: 'result', ok: true, changed: 5, restarts: { [daemon]: 1 } });
      const summaries = Object.fromEntries(events(r.stdout).filter((e) => e.status === 'done').map((e) => [e.phase, e.summary]));
      assert.deepEqual(
        { ...summaries, 'enable/dns/rollout': undefined },
        {
          'enable/dns/corefile': 'create configmap/coredns',
          'enable/dns/coredns-objects':
            'create serviceaccount/coredns in kube-system, create clusterrole/coredns, create clusterrolebinding/coredns, create deployment/coredns in kube-system, create service/kube-dns in kube-system',
          'enable/dns/kubelet-cluster-domain': 'kubelet: (absent) -> --cluster-domain=cluster.local',
          'enable/dns/kubelet-cluster-dns': 'kubelet: (absent) -> --cluster-dns=10.152.183.10',
          'enable/dns/kubelet-restart': `restart ${daemon}`,
          'enable/dns/rollout': undefined,
        },
      );

      assert.equal(await corefile(), DEFAULT_COREFILE);
      const deployment = await get('deployment/coredns');
      const status = deployment.status as { replicas: number; readyReplicas: number; availableReplicas: number; updatedReplicas: number };
      assert.deepEqual([status.replicas, status.updatedReplicas, status.readyReplicas, status.availableReplicas], [1, 1, 1, 1]);
      const pods = JSON.parse((await node.kubectl(['-n', 'kube-system', 'get', 'pods', '-l', 'k8s-app=kube-dns', '-o', 'json'])).stdout) as {
        items: { status: { phase: string; conditions: { type: string; status: string }[] }; spec: { containers: { image: string }[] } }[];
      };
      assert.deepEqual(
        pods.items.map((p) => [p.status.phase, p.status.conditions.find((c) => c.type === 'Ready')?.status, p.spec.containers[0]?.image]),
        [['Running', 'True', 'coredns/coredns:1.12.1']],
      );
      const service = (await get('service/kube-dns')).spec as { clusterIP: string; ports: { name: string; port: number; protocol: string }[]; selector: Record<string, string> };
      assert.equal(service.clusterIP, '10.152.183.10');
      assert.deepEqual(service.ports.map((p) => `${p.name} ${p.port}/${p.protocol}`), ['dns 53/UDP', 'dns-tcp 53/TCP', 'metrics 9153/TCP']);
      assert.deepEqual(service.selector, { 'k8s-app': 'kube-dns' });
      for (const what of OBJECTS) assert.equal((await get(what)).metadata.labels?.['app.kubernetes.io/managed-by'], 'mk8s-addons', what);
      const binding = await get('clusterrolebinding/coredns');
      assert.deepEqual([binding.roleRef, binding.subjects], [
        { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'coredns' },
        [{ kind: 'ServiceAccount', name: 'coredns', namespace: 'kube-system' }],
      ]);

      assert.equal(kubeletArgs(), `${kubeletBefore}--cluster-domain=cluster.local\n--cluster-dns=10.152.183.10\n`);
      assert.deepEqual(await logFrom(logged), [{ action: 'restart', daemon, result: 'ok' }]);
      if (era === '1.20') {
        // kubelet is its own daemon on 1.20: the apiserver keeps running untouched.
        assert.deepEqual(node.apiserver(), apiserver);
        assert.equal(isRunning(apiserver), true);
      } else {
        // kubelite is the apiserver too: the real process was restarted.
        assert.notEqual(node.apiserver().pid, apiserver.pid);
        assert.equal(isRunning(apiserver), false);
        assert.equal(isRunning(node.apiserver()), true);
      }
    });

    test('the same enable again changes nothing: changed 0, no restart', async () => {
      // mk8s-addons's own journal may be rewritten; the node, its services and the cluster may not.
      const before = await snapshot({ journal: false });
      const r = node.cli(['enable', 'dns', '--output', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(resultOf(r.stdout), { type: 'result', ok: true, changed: 0, restarts: {} });
      assert.deepEqual(donePhases(r.stdout), []);
      assert.deepEqual(notesOf(r.stdout), ['dns is already enabled at 1.12.1']);
      assert.deepEqual(await snapshot({ journal: false }), before);
    });

    test('enable dns:1.1.1.1,[2606:4700::1111]:53 changes only the forward line: no object re-created, no restart', async () => {
      const before = await snapshot();
      const ids = { cm: await identity('configmap/coredns'), deploy: await identity('deployment/coredns'), svc: await identity('service/kube-dns') };
      const r = node.cli(['enable', 'dns:1.1.1.1,[2606:4700::1111]:53', '--output', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(resultOf(r.stdout), { type: 'result', ok: true, changed: 1, restarts: {} });
      assert.deepEqual(donePhases(r.stdout), ['enable/dns/corefile']);

      const after = await corefile();
      const changedLines = before.corefile!.split('\n').flatMap((line, i) => (line === after.split('\n')[i] ? [] : [[line, after.split('\n')[i]]]));
      assert.equal(after.split('\n').length, before.corefile!.split('\n').length);
      assert.deepEqual(changedLines, [['    forward . 8.8.8.8 8.8.4.4', '    forward . 1.1.1.1 [2606:4700::1111]:53']]);
      assert.deepEqual({ cm: await identity('configmap/coredns'), deploy: await identity('deployment/coredns'), svc: await identity('service/kube-dns') }, ids);
      // Only the ConfigMap was written.
      const cluster = await clusterState();
      assert.deepEqual({ ...cluster, 'configmap/coredns': '' }, { ...before.cluster, 'configmap/coredns': '' });
      assert.notEqual(cluster['configmap/coredns'], before.cluster['configmap/coredns']);
      assert.equal(kubeletArgs(), `${kubeletBefore}--cluster-domain=cluster.local\n--cluster-dns=10.152.183.10\n`);
      assert.deepEqual(await node.serviceLog(), before.log);
      assert.deepEqual(node.apiserver(), before.apiserver);
    });

    test('--dry-run with new servers on an enabled dns prints the Corefile diff and changes nothing', async () => {
      const before = await snapshot();
      const r = node.cli(['enable', 'dns:9.9.9.9', '--dry-run', '--output', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const diff = [
        '--- configmap/coredns Corefile\tnow',
        '+++ configmap/coredns Corefile\tafter',
        '@@ -8,5 +8,5 @@',
        '     }',
        '     prometheus :9153',
        '-    forward . 1.1.1.1 [2606:4700::1111]:53',
        '+    forward . 9.9.9.9',
        '     cache 30',
        '     loop',
      ];
      const wouldChange = events(r.stdout).filter((e) => e.status === 'would-change');
      assert.deepEqual(wouldChange, [
        {
          type: 'step',
          phase: 'enable/dns/corefile',
          status: 'would-change',
          changed: false,
          summary: 'update Corefile of configmap/coredns',
          detail: diff.join('\n'),
        },
      ]);
      assert.deepEqual(resultOf(r.stdout), { type: 'result', ok: true, changed: 0, restarts: {}, dryRun: true });
      // The plain renderer prints the same diff.
      const plain = node.cli(['enable', 'dns:9.9.9.9', '--dry-run']);
      assert.equal(plain.code, 0, plain.stderr);
      assert.ok(plain.stdout.includes(diff.map((l) => `› ${l}\n`).join('')), plain.stdout);
      assert.deepEqual(await snapshot(), before);
    });

    test('bad input exits 2 before anything changes', async () => {
      const before = await snapshot();
      const hint = 'give a DNS name such as cluster.local (dot-separated labels of 1-63 letters, digits and inner hyphens)';
      const cases: [string, string][] = [
        ['dns:1.1.1.300', 'invalid dns server "1.1.1.300" in "1.1.1.300": give IPv4 or IPv6 addresses with optional ports, e.g. 1.1.1.1,[2606:4700::1111]:53, or /etc/resolv.conf'],
        ['dns::10.152.184.10', 'DNS_IP 10.152.184.10 is outside the service range 10.152.183.0/24 (kube-apiserver --service-cluster-ip-range): give an address inside it, e.g. 10.152.183.10'],
        ['dns:1.1.1.1::bad_domain!', `invalid domain "bad_domain!": label "bad_domain!" has characters other than letters, digits and hyphens; ${hint}`],
        // DNS_IP one field too far right.
        ['dns:::10.152.183.20', 'invalid domain "10.152.183.20": it is an IP address; DNS_IP is the field before DOMAIN: dns::10.152.183.20 (or --dns-ip 10.152.183.20)'],
      ];
      for (const [spec, message] of cases) {
        const r = node.cli(['enable', spec]);
        assert.deepEqual(r, { code: 2, stdout: '', stderr: `mk8s-addons: error: ${message}\n` }, spec);
      }
      assert.deepEqual(await snapshot(), before);
    });

    test('user edits made with kubectl (a hosts block, a stub domain, cache 90) survive a forwarder change and a re-enable', async () => {
      const edited = (await corefile())
        .replace('    ready\n', '    ready\n    hosts {\n      10.0.0.5 db.example.internal\n      fallthrough\n    }\n')
        .replace('    cache 30\n', '    cache 90\n')
        .concat('example.corp:53 {\n    forward . 10.0.0.1\n}\n');
      await node.kubectl(['-n', 'kube-system', 'patch', 'configmap', 'coredns', '--type', 'merge', '-p', JSON.stringify({ data: { Corefile: edited } })]);
      assert.equal(await corefile(), edited);
      const log = await node.serviceLog();

      const change = node.cli(['enable', 'dns:9.9.9.9', '--output', 'json']);
      assert.equal(change.code, 0, change.stderr);
      assert.deepEqual(resultOf(change.stdout), { type: 'result', ok: true, changed: 1, restarts: {} });
      const forwardTo = (servers: string) => edited.replace('    forward . 1.1.1.1 [2606:4700::1111]:53\n', `    forward . ${servers}\n`);
      assert.equal(await corefile(), forwardTo('9.9.9.9'));

      // The same servers again: nothing to do.
      const again = node.cli(['enable', 'dns:9.9.9.9', '--output', 'json']);
      assert.deepEqual(resultOf(again.stdout), { type: 'result', ok: true, changed: 0, restarts: {} });
      assert.equal(await corefile(), forwardTo('9.9.9.9'));

      // No SERVERS on an enabled dns: the servers configmap/coredns has stay, with every other edit.
      const plain = node.cli(['enable', 'dns', '--output', 'json']);
      assert.deepEqual(resultOf(plain.stdout), { type: 'result', ok: true, changed: 0, restarts: {} });
      assert.deepEqual(notesOf(plain.stdout), [
        'keeping the forward servers of configmap/coredns (9.9.9.9): give dns:SERVERS to change them',
        'dns is already enabled at 1.12.1',
      ]);
      assert.equal(await corefile(), forwardTo('9.9.9.9'));

      const back = node.cli(['enable', 'dns:8.8.8.8,8.8.4.4', '--output', 'json']);
      assert.deepEqual(resultOf(back.stdout), { type: 'result', ok: true, changed: 1, restarts: {} });
      assert.equal(await corefile(), forwardTo('8.8.8.8 8.8.4.4'));
      assert.deepEqual(await node.serviceLog(), log);
    });

    test('updateConfigMap re-reads and redoes its change when another client changes the ConfigMap in between', async () => {
      const k = await connect(node.info.kubeconfig);
      const start = await corefile();
      assert.match(start, /\n {4}cache 90\n/);
      const seen: string[] = [];
      const r = await updateConfigMap(k, { name: 'coredns', namespace: 'kube-system' }, async (data) => {
        seen.push(data.Corefile as string);
        if (seen.length === 1) {
          // Between our read and our write, kubectl changes the cache line.
          const other = (data.Corefile as string).replace('    cache 90\n', '    cache 120\n');
          await node.kubectl(['-n', 'kube-system', 'patch', 'configmap', 'coredns', '--type', 'merge', '-p', JSON.stringify({ data: { Corefile: other } })]);
        }
        return { ...data, Corefile: printCorefile(setForwarders(parseCorefile(data.Corefile as string), ['1.0.0.1']).corefile) };
      });
      const expected = start.replace('    cache 90\n', '    cache 120\n').replace('    forward . 8.8.8.8 8.8.4.4\n', '    forward . 1.0.0.1\n');
      assert.deepEqual([r.changed, r.conflicts, seen.length], [true, 1, 2]);
      assert.equal(seen[1], start.replace('    cache 90\n', '    cache 120\n'));
      assert.equal(r.after.Corefile, expected);
      assert.equal(await corefile(), expected);
    });

    test('a Corefile CoreDNS would not load is refused with the reason and left as it is; chained "forward ." plugins: the first is edited', async () => {
      const start = await corefile();
      const patch = (text: string) =>
        node.kubectl(['-n', 'kube-system', 'patch', 'configmap', 'coredns', '--type', 'merge', '-p', JSON.stringify({ data: { Corefile: text } })]);
      const line = start.split('\n').findIndex((l) => l.startsWith('    forward . ')) + 1;
      assert.ok(line > 0, start);

      // A "\" meant to continue the line: CoreDNS reads 8.8.4.4 as a plugin name and refuses the file.
      const joined = start.replace(/\n {4}forward \. [^\n]*\n/, '\n    forward . 1.1.1.1 \\\n        8.8.4.4\n');
      assert.notEqual(joined, start);
      await patch(joined);
      const refused = node.cli(['enable', 'dns:9.9.9.9']);
      assert.equal(refused.code, 3, refused.stderr);
      assert.equal(
        refused.stderr,
        `mk8s-addons: error: configmap/coredns:${line + 1}: CoreDNS has no plugin "8.8.4.4", so it would not load this Corefile: the "\\" at the end of line ${line} does not continue a line in a Corefile; put the arguments on one line\n`,
      );
      assert.equal(await corefile(), joined);

      // Two chained "forward ." plugins: the first one gets the new servers, the second stays, with a note.
      const chained = start.replace(/\n( {4}forward \. [^\n]*)\n/, '\n$1 {\n        next NXDOMAIN\n    }\n    forward . 10.0.0.53\n');
      await patch(chained);
      const r = node.cli(['enable', 'dns:9.9.9.9', '--output', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        notesOf(r.stdout).includes(
          `configmap/coredns chains 2 "forward ." plugins: the first (line ${line}) gets the new servers, the ones it hands queries on to stay (line ${line + 3}: 10.0.0.53); edit them by hand to change them`,
        ),
        JSON.stringify(notesOf(r.stdout)),
      );
      assert.equal(await corefile(), chained.replace(/\n {4}forward \. [^\n{]*\{\n/, '\n    forward . 9.9.9.9 {\n'));
      await patch(start);
    });

    test('disable: objects and pods gone, kubelet args byte-identical to before enable, exactly one restart', async () => {
      const logged = (await node.serviceLog()).length;
      const r = node.cli(['disable', 'dns', '--output', 'json']);
      assert.equal(r.code, 0, r.stderr);
      // Every step that changed something is undone, newest first; the restart and the wait have nothing
      // of their own to undo (whether the engine reports them undone or skipped is its business).
      const undone = events(r.stdout).filter((e) => e.status === 'undone').map((e) => e.phase);
      assert.deepEqual(
        undone.filter((p) => p !== 'disable/dns/kubelet-restart' && p !== 'disable/dns/rollout'),
        ['disable/dns/kubelet-cluster-dns', 'disable/dns/kubelet-cluster-domain', 'disable/dns/coredns-objects', 'disable/dns/corefile'],
      );
      assert.deepEqual(resultOf(r.stdout), { type: 'result', ok: true, changed: undone.length, restarts: { [daemon]: 1 } });
      // Gone when disable returns, not merely marked for deletion (a foreground delete leaves the object
      // with a foregroundDeletion finalizer until the garbage collector has been through).
      const k = await connect(node.info.kubeconfig);
      const left: string[] = [];
      for (const ref of OBJECT_REFS) {
        const o = await readObject(k, ref);
        if (o) left.push(`${ref.kind}/${ref.metadata.name} finalizers ${JSON.stringify(o.metadata?.finalizers)}`);
      }
      assert.deepEqual(left, []);
      assert.deepEqual(await clusterState(), Object.fromEntries(OBJECTS.map((o) => [o, 'absent'])));
      assert.equal((await node.kubectl(['-n', 'kube-system', 'get', 'pods', '-l', 'k8s-app=kube-dns', '-o', 'name'])).stdout, '');
      assert.equal(kubeletArgs(), kubeletBefore);
      assert.deepEqual(treeDigest(path.join(node.info.snapData, 'args')), argsBefore);
      assert.deepEqual(await logFrom(logged), [{ action: 'restart', daemon, result: 'ok' }]);
    });

    test('enable dns::10.152.183.20: the Service\'s clusterIP and kubelet\'s --cluster-dns', async () => {
      const logged = (await node.serviceLog()).length;
      const r = node.cli(['enable', 'dns::10.152.183.20', '--output', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(resultOf(r.stdout), { type: 'result', ok: true, changed: 5, restarts: { [daemon]: 1 } });
      assert.equal(((await get('service/kube-dns')).spec as { clusterIP: string }).clusterIP, '10.152.183.20');
      assert.equal(kubeletArgs(), `${kubeletBefore}--cluster-domain=cluster.local\n--cluster-dns=10.152.183.20\n`);
      assert.equal(await corefile(), DEFAULT_COREFILE);
      assert.deepEqual(await logFrom(logged), [{ action: 'restart', daemon, result: 'ok' }]);
    });

    test('on an enabled dns, DNS_IP not given keeps the Service\'s; a different one is refused (exit 3) before anything changes', async () => {
      const svc = await identity('service/kube-dns');
      const log = await node.serviceLog();
      const r = node.cli(['enable', 'dns:1.1.1.1', '--output', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(resultOf(r.stdout), { type: 'result', ok: true, changed: 1, restarts: {} });
      assert.deepEqual(notesOf(r.stdout), ['keeping DNS_IP 10.152.183.20, the ClusterIP of service/kube-dns']);
      assert.deepEqual(withoutRollout(donePhases(r.stdout)), ['enable/dns/corefile']);
      assert.deepEqual(await identity('service/kube-dns'), svc);
      assert.match(kubeletArgs(), /\n--cluster-dns=10\.152\.183\.20\n$/);

      const before = await snapshot();
      const move = node.cli(['enable', 'dns::10.152.183.30']);
      assert.deepEqual(move, {
        code: 3,
        stdout: '',
        stderr:
          'mk8s-addons: error: service/kube-dns in kube-system has ClusterIP 10.152.183.20, and a Service\'s ClusterIP cannot change: to move DNS to 10.152.183.30, run "mk8s-addons disable dns", then "mk8s-addons enable dns::10.152.183.30" (disable removes configmap/coredns: save your edits of it first)\n',
      });
      assert.deepEqual(await snapshot(), before);
      assert.deepEqual(await node.serviceLog(), log);
    });

    test('enable dns:::home.arpa on an enabled dns: kubelet and the Corefile\'s kubernetes zone change together; later enables keep it', async () => {
      const logged = (await node.serviceLog()).length;
      const before = await corefile();
      const r = node.cli(['enable', 'dns:::home.arpa', '--output', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(resultOf(r.stdout), { type: 'result', ok: true, changed: 3, restarts: { [daemon]: 1 } });
      assert.deepEqual(withoutRollout(donePhases(r.stdout)), ['enable/dns/corefile', 'enable/dns/kubelet-cluster-domain', 'enable/dns/kubelet-restart']);
      assert.equal(await corefile(), before.replace('    kubernetes cluster.local in-addr.arpa ip6.arpa {\n', '    kubernetes home.arpa in-addr.arpa ip6.arpa {\n'));
      assert.equal(kubeletArgs(), `${kubeletBefore}--cluster-domain=home.arpa\n--cluster-dns=10.152.183.20\n`);
      assert.deepEqual(await logFrom(logged), [{ action: 'restart', daemon, result: 'ok' }]);

      const servers = node.cli(['enable', 'dns:1.0.0.1', '--output', 'json']);
      assert.deepEqual(resultOf(servers.stdout), { type: 'result', ok: true, changed: 1, restarts: {} });
      assert.match(await corefile(), /\n {4}kubernetes home\.arpa in-addr\.arpa ip6\.arpa \{\n/);
      assert.match(kubeletArgs(), /\n--cluster-domain=home\.arpa\n/);
    });
  });
}
