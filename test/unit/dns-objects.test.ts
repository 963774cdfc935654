import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { renderCoreDnsObjects, renderCoreDnsYaml, renderCorefile, yamlQuoted, COREDNS_IMAGE, type KubeObject } from '../../src/dns/objects.js';
import { dnsTemplatePath, readDnsTemplate } from '../../src/dns/template-files.js';
import { getForwarders, parseCorefile, printCorefile, type CorefileServerBlock } from '../../src/dns/corefile.js';
import { resolveDnsArgs } from '../../src/dns/args.js';
import { InternalError, UsageError } from '../../src/errors.js';
import { packagePath } from '../../src/adapters/package-files.js';

const byKind = (objects: KubeObject[], kind: string): KubeObject => {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, kind);
  return found[0] as KubeObject;
};
// Deep access into parsed objects, failing the test (not throwing a TypeError) when a step is missing.
const at = (value: unknown, ...path: (string | number)[]): unknown => {
  let v = value;
  for (const step of path) {
    assert.ok(typeof v === 'object' && v !== null, `no ${path.join('.')}`);
    v = (v as Record<string | number, unknown>)[step];
  }
  return v;
};

test('template paths are in the package', () => {
  assert.equal(dnsTemplatePath('objects'), packagePath('templates', 'dns', 'coredns.yaml.hbs'));
  assert.equal(dnsTemplatePath('corefile'), packagePath('templates', 'dns', 'Corefile.hbs'));
  assert.ok(existsSync(dnsTemplatePath('objects')));
  assert.ok(existsSync(dnsTemplatePath('corefile')));
});

test('the default Corefile is MicroK8s\'s, laid out as in the corpus', async () => {
  const text = await renderCorefile({ servers: ['8.8.8.8', '8.8.4.4'], domain: 'cluster.local' });
  assert.equal(text, readFileSync(packagePath('test', 'fixtures', 'corefiles', 'microk8s-default.corefile'), 'utf8'));
  const custom = await renderCorefile({ servers: ['1.1.1.1', '[2606:4700::1111]:53'], domain: 'home.arpa' });
  const cf = parseCorefile(custom);
  assert.equal(printCorefile(cf), custom);
  assert.deepEqual(getForwarders(cf), ['1.1.1.1', '[2606:4700::1111]:53']);
  const kubernetes = (cf.entries[0] as CorefileServerBlock).directives.find((d) => d.name.text === 'kubernetes');
  assert.deepEqual(kubernetes?.parts.slice(0, 3).map((p) => (p.kind === 'block' ? '{}' : p.text)), ['home.arpa', 'in-addr.arpa', 'ip6.arpa']);
});

test('objects: six in kube-system order, each as the addon needs it', async () => {
  const args = resolveDnsArgs({ servers: '1.1.1.1,[2606:4700::1111]:53', dnsIp: '10.152.183.20', domain: 'cluster.local' }, { resolvConf: undefined, serviceCidr: '10.152.183.0/24' });
  const objects = await renderCoreDnsObjects(args);
  assert.deepEqual(
    objects.map((o) => [o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace]),
    [
      ['v1', 'ServiceAccount', 'coredns', 'kube-system'],
      ['rbac.authorization.k8s.io/v1', 'ClusterRole', 'coredns', undefined],
      ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', 'coredns', undefined],
      ['v1', 'ConfigMap', 'coredns', 'kube-system'],
      ['apps/v1', 'Deployment', 'coredns', 'kube-system'],
      ['v1', 'Service', 'kube-dns', 'kube-system'],
    ],
  );
  for (const o of objects) assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'mk8s-addons', o.kind);

  const configMap = byKind(objects, 'ConfigMap');
  assert.deepEqual(Object.keys(at(configMap, 'data') as object), ['Corefile']);
  const corefile = at(configMap, 'data', 'Corefile') as string;
  assert.equal(corefile, await renderCorefile(args));
  assert.deepEqual(getForwarders(parseCorefile(corefile)), ['1.1.1.1', '[2606:4700::1111]:53']);

  const deployment = byKind(objects, 'Deployment');
  assert.deepEqual(at(deployment, 'spec', 'selector'), { matchLabels: { 'k8s-app': 'kube-dns' } });
  assert.deepEqual(at(deployment, 'spec', 'template', 'metadata', 'labels'), { 'k8s-app': 'kube-dns' });
  assert.equal(deployment.metadata.labels?.['k8s-app'], 'kube-dns');
  const pod = at(deployment, 'spec', 'template', 'spec');
  assert.equal(at(pod, 'serviceAccountName'), 'coredns');
  assert.equal(at(pod, 'dnsPolicy'), 'Default');
  assert.equal(at(pod, 'priorityClassName'), 'system-cluster-critical');
  assert.deepEqual(at(pod, 'volumes'), [{ name: 'config-volume', configMap: { name: 'coredns', items: [{ key: 'Corefile', path: 'Corefile' }] } }]);
  const containers = at(pod, 'containers') as unknown[];
  assert.equal(containers.length, 1);
  const container = containers[0];
  assert.equal(at(container, 'image'), 'coredns/coredns:1.12.1');
  assert.equal(COREDNS_IMAGE, 'coredns/coredns:1.12.1');
  assert.deepEqual(at(container, 'args'), ['-conf', '/etc/coredns/Corefile']);
  assert.deepEqual(at(container, 'volumeMounts'), [{ name: 'config-volume', mountPath: '/etc/coredns', readOnly: true }]);
  assert.deepEqual(at(container, 'readinessProbe', 'httpGet'), { path: '/ready', port: 8181, scheme: 'HTTP' });
  assert.deepEqual(at(container, 'livenessProbe', 'httpGet'), { path: '/health', port: 8080, scheme: 'HTTP' });
  assert.deepEqual(
    (at(container, 'ports') as { containerPort: number; protocol: string }[]).map((p) => `${p.containerPort}/${p.protocol}`),
    ['53/UDP', '53/TCP', '9153/TCP'],
  );

  const service = byKind(objects, 'Service');
  assert.equal(at(service, 'spec', 'clusterIP'), '10.152.183.20');
  assert.deepEqual(at(service, 'spec', 'selector'), { 'k8s-app': 'kube-dns' });
  assert.deepEqual(
    (at(service, 'spec', 'ports') as { port: number; protocol: string; name: string }[]).map((p) => `${p.name}:${p.port}/${p.protocol}`),
    ['dns:53/UDP', 'dns-tcp:53/TCP', 'metrics:9153/TCP'],
  );

  assert.deepEqual(at(byKind(objects, 'ClusterRole'), 'rules'), [
    { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
  ]);
  const binding = byKind(objects, 'ClusterRoleBinding');
  assert.deepEqual(at(binding, 'roleRef'), { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'coredns' });
  assert.deepEqual(at(binding, 'subjects'), [{ kind: 'ServiceAccount', name: 'coredns', namespace: 'kube-system' }]);
});

test('hostile values: args validation rejects them before any template', () => {
  const node = { resolvConf: undefined, serviceCidr: '10.152.183.0/24' };
  assert.throws(() => resolveDnsArgs({ domain: 'x"\n{{evil}}' }, node), UsageError);
  assert.throws(() => resolveDnsArgs({ domain: 'cluster.local }\n.:53 {' }, node), UsageError);
  assert.throws(() => resolveDnsArgs({ servers: '1.1.1.1 }\nimport /etc/passwd' }, node), UsageError);
  assert.throws(() => resolveDnsArgs({ dnsIp: '10.152.183.10"\nkind: Secret' }, node), UsageError);
});

test('the renderer keeps the YAML structure for odd strings', async () => {
  const odd = [
    '10.152.183.10"\n  evil: {{x}}',
    "' } ] # & * ! | > % @ `",
    '\u2028\u2029\u0085\ufeff\r\n\t',
    'key: value\n---\napiVersion: v1\nkind: Secret',
    '😀 {{{corefile}}} \\" \\\\',
  ];
  for (const dnsIp of odd) {
    const objects = await renderCoreDnsObjects({ servers: ['1.1.1.1'], dnsIp, domain: 'cluster.local' });
    assert.equal(objects.length, 6, JSON.stringify(dnsIp));
    const service = byKind(objects, 'Service');
    assert.equal(at(service, 'spec', 'clusterIP'), dnsIp);
    assert.deepEqual(Object.keys(at(service, 'spec') as object), ['selector', 'clusterIP', 'ports']);
    assert.equal(yaml.load(yamlQuoted(dnsIp)), dnsIp);
  }
  // Every rendered value line is plain ASCII.
  const text = await renderCoreDnsYaml({ servers: ['1.1.1.1'], dnsIp: odd[2] as string, domain: 'cluster.local' });
  assert.ok(/^[\x20-\x7e\n]*$/.test(text));
  assert.equal(yamlQuoted('a\u2028😀"'), '"a\\u2028\\U0001f600\\""');
});

test('the renderer refuses Corefile values that are not one plain word', async () => {
  const bad: [Partial<{ servers: string[]; domain: string }>, string][] = [
    [{ domain: 'cluster.local }\n.:53 {' }, 'cannot write "cluster.local }\\n.:53 {" into the Corefile as one word'],
    [{ domain: '{$HOME}' }, 'cannot write "{$HOME}" into the Corefile as one word'],
    [{ servers: ['1.1.1.1 # x'] }, 'cannot write "1.1.1.1 # x" into the Corefile as one word'],
    [{ servers: ['"8.8.8.8"'] }, 'cannot write "\\"8.8.8.8\\"" into the Corefile as one word'],
    [{ servers: [] }, 'the Corefile needs at least one upstream server'],
  ];
  for (const [override, start] of bad) {
    const p = { servers: ['1.1.1.1'], dnsIp: '10.152.183.10', domain: 'cluster.local', ...override };
    await assert.rejects(renderCoreDnsObjects(p), (e: unknown) => e instanceof InternalError && e.message.startsWith(start), JSON.stringify(override));
  }
});

test('templates given as text are used instead of the files, and broken ones are caught', async () => {
  const p = { servers: ['1.1.1.1'], dnsIp: '10.152.183.10', domain: 'cluster.local' };
  const corefile = '.:53 {\n    forward .{{#each servers}} {{word this}}{{/each}}\n}\n';
  assert.equal(await renderCorefile(p, { corefile }), '.:53 {\n    forward . 1.1.1.1\n}\n');

  await assert.rejects(
    renderCorefile(p, { corefile: '.:53 {\n    forward . 8.8.8.8\n}\n' }),
    (e: unknown) => e instanceof InternalError && e.message.startsWith('templates/dns/Corefile.hbs renders forward servers ["8.8.8.8"] instead of ["1.1.1.1"]'),
  );
  await assert.rejects(renderCorefile(p, { corefile: '.:53 { {{word domain}} }\n' }), (e: unknown) => e instanceof Error && e.message.startsWith('templates/dns/Corefile.hbs:1:'));
  // A value the template names but the renderer does not pass fails rendering; it never renders as empty.
  await assert.rejects(renderCorefile(p, { corefile: '{{word missing}}' }), (e: unknown) => e instanceof InternalError && e.message.startsWith('cannot write undefined into the Corefile'));
  await assert.rejects(renderCoreDnsYaml(p, { objects: 'a: {{json missing}}' }), (e: unknown) => e instanceof InternalError && e.message.startsWith('template value undefined is not a string'));
  await assert.rejects(renderCoreDnsYaml(p, { objects: 'a: {{missing}}' }), /"missing" not defined/);

  const objects = await readDnsTemplate('objects');
  await assert.rejects(
    renderCoreDnsObjects(p, { objects: `${objects}\n---\nfoo: bar\n` }),
    (e: unknown) => e instanceof InternalError && e.message.startsWith('templates/dns/coredns.yaml.hbs renders a document without apiVersion, kind and metadata.name'),
  );
  const extra = await renderCoreDnsObjects(p, { objects: `${objects}\n---\n` });
  assert.equal(extra.length, 6);
});
