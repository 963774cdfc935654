import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveDnsArgs, parseDnsServers, resolvConfServers, type DnsArgsInput, type DnsArgs } from '../../src/dns/args.js';
import { PreconditionError, UsageError } from '../../src/errors.js';

const usage = (message: string) => (e: unknown) => e instanceof UsageError && e.message === message;
const node = { resolvConf: undefined, serviceCidr: '10.152.183.0/24' };
const HINT = 'give IPv4 or IPv6 addresses with optional ports, e.g. 1.1.1.1,[2606:4700::1111]:53, or /etc/resolv.conf';

test('SERVERS: accepted forms, normalised to CoreDNS forward syntax', () => {
  const table: [string, string[]][] = [
    ['1.1.1.1', ['1.1.1.1']],
    ['1.1.1.1,8.8.8.8', ['1.1.1.1', '8.8.8.8']],
    ['1.1.1.1, 8.8.8.8', ['1.1.1.1', '8.8.8.8']],
    ['1.1.1.1:5353', ['1.1.1.1:5353']],
    ['1.1.1.1:053', ['1.1.1.1:53']],
    ['255.255.255.254:65535', ['255.255.255.254:65535']],
    ['2606:4700::1111', ['2606:4700::1111']],
    ['2606:4700:0:0:0:0:0:1111', ['2606:4700::1111']],
    ['2606:4700:0000::1111', ['2606:4700::1111']],
    ['2606:4700::ABCD', ['2606:4700::abcd']],
    ['[2606:4700::1111]:53', ['[2606:4700::1111]:53']],
    ['[2606:4700::1111]', ['2606:4700::1111']],
    ['[2001:db8:0:1:0:0:0:1]:5353', ['[2001:db8:0:1::1]:5353']],
    ['2001:db8:0:0:1:0:0:1', ['2001:db8::1:0:0:1']],
    ['2001:db8:1:1:1:1:0:1', ['2001:db8:1:1:1:1:0:1']],
    ['::ffff:1.2.3.4', ['::ffff:1.2.3.4']],
    ['64:ff9b::8.8.8.8', ['64:ff9b::808:808']],
    ['/etc/resolv.conf', ['/etc/resolv.conf']],
    ['1.1.1.1,1.0.0.1,[2606:4700::1111]:53,2606:4700::1001', ['1.1.1.1', '1.0.0.1', '[2606:4700::1111]:53', '2606:4700::1001']],
  ];
  for (const [text, servers] of table) {
    assert.deepEqual(parseDnsServers(text), servers, text);
    const args = resolveDnsArgs({ servers: text }, node);
    assert.deepEqual([args.servers, args.serversFrom], [servers, 'argument'], text);
  }
});

test('SERVERS: exact messages for every kind of mistake', () => {
  const fifteen = Array.from({ length: 16 }, (_, i) => `10.0.0.${i + 1}`).join(',');
  const table: [string, string][] = [
    ['1.1.1.1,1.1.1.300', `invalid dns server "1.1.1.300" in "1.1.1.1,1.1.1.300": ${HINT}`],
    ['1.1.1', `invalid dns server "1.1.1" in "1.1.1": ${HINT}`],
    ['01.1.1.1', `invalid dns server "01.1.1.1" in "01.1.1.1": ${HINT}`],
    ['dns.google', `invalid dns server "dns.google" in "dns.google": ${HINT}`],
    ['tls://1.1.1.1', `invalid dns server "tls://1.1.1.1" in "tls://1.1.1.1": ${HINT}`],
    ['1.1.1.1 8.8.8.8', `invalid dns server "1.1.1.1 8.8.8.8" in "1.1.1.1 8.8.8.8": ${HINT}`],
    ['2606:4700::1111:53:', `invalid dns server "2606:4700::1111:53:" in "2606:4700::1111:53:": ${HINT}`],
    ['2606:4700::zzzz', `invalid dns server "2606:4700::zzzz" in "2606:4700::zzzz": ${HINT}`],
    ['[1.1.1.1]:53', `invalid dns server "[1.1.1.1]:53" in "[1.1.1.1]:53": ${HINT}`],
    ['fe80::1%eth0', `invalid dns server "fe80::1%eth0" in "fe80::1%eth0": ${HINT}`],
    ['[2606:4700::1111', `invalid dns server "[2606:4700::1111" in "[2606:4700::1111": ${HINT}`],
    ['"1.1.1.1\n{{x}}"', `invalid dns server "\\"1.1.1.1\\n{{x}}\\"" in "\\"1.1.1.1\\n{{x}}\\"": ${HINT}`],
    ['1.1.1.1,', `empty dns server in "1.1.1.1,": ${HINT}`],
    [',', `empty dns server in ",": ${HINT}`],
    ['1.1.1.1,,8.8.8.8', `empty dns server in "1.1.1.1,,8.8.8.8": ${HINT}`],
    ['1.1.1.1:0', 'invalid port "0" in dns server "1.1.1.1:0": give a port from 1 to 65535, e.g. 1.1.1.1:5353 or [2606:4700::1111]:5353'],
    ['1.1.1.1:65536', 'invalid port "65536" in dns server "1.1.1.1:65536": give a port from 1 to 65535, e.g. 1.1.1.1:5353 or [2606:4700::1111]:5353'],
    ['1.1.1.1:', 'invalid port "" in dns server "1.1.1.1:": give a port from 1 to 65535, e.g. 1.1.1.1:5353 or [2606:4700::1111]:5353'],
    ['1.1.1.1:dns', 'invalid port "dns" in dns server "1.1.1.1:dns": give a port from 1 to 65535, e.g. 1.1.1.1:5353 or [2606:4700::1111]:5353'],
    ['[2606:4700::1111]:-1', 'invalid port "-1" in dns server "[2606:4700::1111]:-1": give a port from 1 to 65535, e.g. 1.1.1.1:5353 or [2606:4700::1111]:5353'],
    ['1.1.1.1,1.1.1.1:53,1.1.1.1', 'dns server "1.1.1.1" is given twice in "1.1.1.1,1.1.1.1:53,1.1.1.1": give each server once'],
    ['2606:4700::1111,2606:4700:0::1111', 'dns server "2606:4700:0::1111" is given twice in "2606:4700::1111,2606:4700:0::1111": give each server once'],
    ['1.1.1.1,/etc/resolv.conf', '/etc/resolv.conf cannot be mixed with other dns servers in "1.1.1.1,/etc/resolv.conf": give either /etc/resolv.conf or a list of addresses'],
    [fifteen, `too many dns servers (16) in "${fifteen}": CoreDNS's forward plugin takes at most 15`],
  ];
  for (const local of ['127.0.0.53', '127.1.2.3', '0.0.0.0', '::1', '::', '::ffff:127.0.0.1', 'fe80::1', '127.0.0.1:53']) {
    table.push([
      local,
      `dns server "${local}" in "${local}" is a local address, which inside the CoreDNS pod is the pod itself: give the upstream servers, e.g. 1.1.1.1,8.8.8.8, or /etc/resolv.conf`,
    ]);
  }
  for (const [text, message] of table) assert.throws(() => resolveDnsArgs({ servers: text }, node), usage(message), JSON.stringify(text));
});

test('SERVERS default: reachable resolv.conf nameservers, else 8.8.8.8,8.8.4.4', () => {
  const table: [string | undefined, string[], DnsArgs['serversFrom']][] = [
    [undefined, ['8.8.8.8', '8.8.4.4'], 'default'],
    ['', ['8.8.8.8', '8.8.4.4'], 'default'],
    ['nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n', ['8.8.8.8', '8.8.4.4'], 'default'],
    ['nameserver 127.0.0.1\nnameserver ::1\n', ['8.8.8.8', '8.8.4.4'], 'default'],
    ['# Generated by NetworkManager\nsearch lan\nnameserver 192.168.1.1\nnameserver 2001:db8::53\n', ['192.168.1.1', '2001:db8::53'], 'resolv.conf'],
    ['nameserver 127.0.0.53\nnameserver 10.0.0.2\n', ['10.0.0.2'], 'resolv.conf'],
    ['nameserver\t10.0.0.2   # office\r\nnameserver 10.0.0.2\r\n  nameserver 10.0.0.3\r\n', ['10.0.0.2', '10.0.0.3'], 'resolv.conf'],
    ['#nameserver 10.0.0.9\n; nameserver 10.0.0.8\nnameserver bogus\nnameserver 10.0.0.300\nnameserver fe80::1%eth0\nnameserver 10.0.0.7\n', ['10.0.0.7'], 'resolv.conf'],
    ['nameservers 10.0.0.1\nnameserver fe80::1\nnameserver 0.0.0.0\n', ['8.8.8.8', '8.8.4.4'], 'default'],
  ];
  for (const [resolvConf, servers, from] of table) {
    const args = resolveDnsArgs({}, { resolvConf, serviceCidr: '10.152.183.0/24' });
    assert.deepEqual([args.servers, args.serversFrom], [servers, from], JSON.stringify(resolvConf));
  }
  // An argument wins over the host's servers; an empty one does not count as given.
  assert.deepEqual(resolveDnsArgs({ servers: '9.9.9.9' }, { resolvConf: 'nameserver 10.0.0.2\n', serviceCidr: '10.152.183.0/24' }).servers, ['9.9.9.9']);
  assert.deepEqual(resolveDnsArgs({ servers: '' }, { resolvConf: 'nameserver 10.0.0.2\n', serviceCidr: '10.152.183.0/24' }).servers, ['10.0.0.2']);
  assert.equal(resolvConfServers(Array.from({ length: 20 }, (_, i) => `nameserver 10.0.1.${i + 1}`).join('\n')).length, 15);
});

test('DNS_IP: inside the service range, default its tenth address', () => {
  const table: [string | undefined, string | undefined, string][] = [
    [undefined, undefined, '10.152.183.10'],
    [undefined, '', '10.152.183.10'],
    ['', '10.152.183.0/24', '10.152.183.10'],
    ['10.152.183.20', '10.152.183.0/24', '10.152.183.20'],
    ['10.152.183.2', '10.152.183.0/24', '10.152.183.2'],
    ['10.152.183.254', '10.152.183.0/24', '10.152.183.254'],
    [undefined, '10.96.0.0/12', '10.96.0.10'],
    ['10.100.200.1', '10.96.0.0/12', '10.100.200.1'],
    [undefined, '10.96.0.5/12', '10.96.0.10'],
    [undefined, '10.0.0.0/28', '10.0.0.10'],
    [undefined, 'fd98::/108', 'fd98::a'],
    ['FD98:0::53', 'fd98::/108', 'fd98::53'],
    ['fd98::f:ffff', 'fd98::/108', 'fd98::f:ffff'],
    [undefined, '10.152.183.0/24,fd98::/108', '10.152.183.10'],
    ['fd98::10', '10.152.183.0/24, fd98::/108', 'fd98::10'],
  ];
  for (const [dnsIp, serviceCidr, expected] of table) {
    assert.equal(resolveDnsArgs({ dnsIp }, { resolvConf: undefined, serviceCidr }).dnsIp, expected, `${dnsIp} in ${serviceCidr}`);
  }
});

test('DNS_IP: exact messages', () => {
  const table: [string, string, string][] = [
    ['10.152.183.300', '10.152.183.0/24', 'invalid DNS_IP "10.152.183.300": give an IPv4 or IPv6 address inside the service range 10.152.183.0/24, e.g. 10.152.183.10'],
    ['dns', '10.152.183.0/24', 'invalid DNS_IP "dns": give an IPv4 or IPv6 address inside the service range 10.152.183.0/24, e.g. 10.152.183.10'],
    ['10.152.184.10', '10.152.183.0/24', 'DNS_IP 10.152.184.10 is outside the service range 10.152.183.0/24 (kube-apiserver --service-cluster-ip-range): give an address inside it, e.g. 10.152.183.10'],
    ['fd98::a', '10.152.183.0/24', 'DNS_IP fd98::a is outside the service range 10.152.183.0/24 (kube-apiserver --service-cluster-ip-range): give an address inside it, e.g. 10.152.183.10'],
    ['10.152.183.0', '10.152.183.0/24', 'DNS_IP 10.152.183.0 is the network address of the service range 10.152.183.0/24: give another address inside it, e.g. 10.152.183.10'],
    ['10.152.183.255', '10.152.183.0/24', 'DNS_IP 10.152.183.255 is the broadcast address of the service range 10.152.183.0/24: give another address inside it, e.g. 10.152.183.10'],
    ['10.152.183.1', '10.152.183.0/24', 'DNS_IP 10.152.183.1 is taken by the kubernetes Service, as the first address of the service range 10.152.183.0/24: give another address inside it, e.g. 10.152.183.10'],
    ['fd98::1', 'fd98::/108', 'DNS_IP fd98::1 is taken by the kubernetes Service, as the first address of the service range fd98::/108: give another address inside it, e.g. fd98::a'],
    ['fd98::', 'fd98::/108', 'DNS_IP fd98:: is the network address of the service range fd98::/108: give another address inside it, e.g. fd98::a'],
    ['10.0.0.10', '10.152.183.0/24,fd98::/108', 'DNS_IP 10.0.0.10 is outside the service ranges 10.152.183.0/24 and fd98::/108 (kube-apiserver --service-cluster-ip-range): give an address inside it, e.g. 10.152.183.10'],
  ];
  for (const [dnsIp, serviceCidr, message] of table) {
    assert.throws(() => resolveDnsArgs({ dnsIp }, { resolvConf: undefined, serviceCidr }), usage(message), `${dnsIp} in ${serviceCidr}`);
  }
  assert.equal(resolveDnsArgs({ dnsIp: '10.0.0.3' }, { resolvConf: undefined, serviceCidr: '10.0.0.0/29' }).dnsIp, '10.0.0.3');
  assert.throws(
    () => resolveDnsArgs({}, { resolvConf: undefined, serviceCidr: '10.0.0.0/29' }),
    usage('the service range 10.0.0.0/29 is too small for the default DNS_IP (its tenth address): give DNS_IP (--dns-ip), an address inside it'),
  );
  assert.throws(
    () => resolveDnsArgs({ dnsIp: '10.0.0.7' }, { resolvConf: undefined, serviceCidr: '10.0.0.0/29' }),
    usage('DNS_IP 10.0.0.7 is the broadcast address of the service range 10.0.0.0/29: give another address inside it'),
  );
});

test('the service range from the apiserver: a broken one is a node problem', () => {
  for (const bad of ['10.152.183.0', '10.152.183.0/33', 'fd98::/129', '10.152.183.0/24,10.153.0.0/16', 'a/b', '10.152.183.0/24,', '1.2.3.4/8,fd00::/64,fd01::/64']) {
    assert.throws(
      () => resolveDnsArgs({}, { resolvConf: undefined, serviceCidr: bad }),
      (e: unknown) =>
        e instanceof PreconditionError &&
        e.message ===
          `invalid kube-apiserver --service-cluster-ip-range ${JSON.stringify(bad)}: expected a CIDR such as 10.152.183.0/24, or an IPv4 and an IPv6 CIDR joined by a comma; fix $SNAP_DATA/args/kube-apiserver`,
      bad,
    );
  }
});

test('DOMAIN: DNS names, lower-cased; exact messages otherwise', () => {
  const ok: [string | undefined, string][] = [
    [undefined, 'cluster.local'],
    ['', 'cluster.local'],
    ['cluster.local', 'cluster.local'],
    ['Prod.Example.COM', 'prod.example.com'],
    ['k8s', 'k8s'],
    ['a-b.c-d.e1', 'a-b.c-d.e1'],
    [`${'a'.repeat(63)}.local`, `${'a'.repeat(63)}.local`],
    [Array.from({ length: 4 }, () => 'b'.repeat(63)).join('.').slice(0, 253), Array.from({ length: 4 }, () => 'b'.repeat(63)).join('.').slice(0, 253)],
  ];
  for (const [domain, expected] of ok) assert.equal(resolveDnsArgs({ domain }, node).domain, expected, domain);

  const hint = 'give a DNS name such as cluster.local (dot-separated labels of 1-63 letters, digits and inner hyphens)';
  const tooLong = `${'c'.repeat(60)}.`.repeat(4) + 'c'.repeat(13);
  const bad: [string, string][] = [
    ['cluster.local.', 'invalid domain "cluster.local.": write it without the trailing dot, e.g. cluster.local'],
    ['.', `invalid domain ".": label "" is empty; ${hint}`],
    ['a..b', `invalid domain "a..b": label "" is empty; ${hint}`],
    ['.local', `invalid domain ".local": label "" is empty; ${hint}`],
    ['a..', `invalid domain "a..": label "" is empty; ${hint}`],
    [`${'a'.repeat(64)}.local`, `invalid domain "${'a'.repeat(64)}.local": label "${'a'.repeat(64)}" is longer than 63 characters; ${hint}`],
    ['my_cluster.local', `invalid domain "my_cluster.local": label "my_cluster" has characters other than letters, digits and hyphens; ${hint}`],
    ['-x.local', `invalid domain "-x.local": label "-x" starts or ends with a hyphen; ${hint}`],
    ['x.local-', `invalid domain "x.local-": label "local-" starts or ends with a hyphen; ${hint}`],
    ['clüster.local', `invalid domain "clüster.local": label "clüster" has characters other than letters, digits and hyphens; ${hint}`],
    [tooLong, `invalid domain "${tooLong}": it is longer than 253 characters; ${hint}`],
    // Hostile input never reaches a template: it is not a DNS name.
    ['x"\n{{evil}}', `invalid domain "x\\"\\n{{evil}}": label "x\\"\\n{{evil}}" has characters other than letters, digits and hyphens; ${hint}`],
    ['cluster.local\n    forward . 6.6.6.6', `invalid domain "cluster.local\\n    forward . 6.6.6.6": label "local\\n    forward " has characters other than letters, digits and hyphens; ${hint}`],
    ['a }\n.:53 {', `invalid domain "a }\\n.:53 {": label "a }\\n" has characters other than letters, digits and hyphens; ${hint}`],
  ];
  assert.equal(tooLong.length, 257);
  for (const [domain, message] of bad) assert.throws(() => resolveDnsArgs({ domain }, node), usage(message), JSON.stringify(domain));
});

test('all three together; the first bad part is reported', () => {
  const input: DnsArgsInput = { servers: '1.1.1.1,[2606:4700::1111]:53', dnsIp: '10.152.183.53', domain: 'Home.Arpa' };
  assert.deepEqual(resolveDnsArgs(input, { resolvConf: 'nameserver 10.0.0.2\n', serviceCidr: '10.152.183.0/24' }), {
    servers: ['1.1.1.1', '[2606:4700::1111]:53'],
    dnsIp: '10.152.183.53',
    domain: 'home.arpa',
    serversFrom: 'argument',
  });
  assert.deepEqual(resolveDnsArgs({}, { resolvConf: undefined }), {
    servers: ['8.8.8.8', '8.8.4.4'],
    dnsIp: '10.152.183.10',
    domain: 'cluster.local',
    serversFrom: 'default',
  });
  assert.throws(
    () => resolveDnsArgs({ servers: 'x', dnsIp: 'y', domain: 'z_' }, node),
    usage(`invalid dns server "x" in "x": ${HINT}`),
  );
  assert.throws(
    () => resolveDnsArgs({ servers: '1.1.1.1', dnsIp: 'y', domain: 'z_' }, node),
    usage('invalid DNS_IP "y": give an IPv4 or IPv6 address inside the service range 10.152.183.0/24, e.g. 10.152.183.10'),
  );
});
