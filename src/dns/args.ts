/**
 * The arguments of `enable dns[:SERVERS[:DNS_IP[:DOMAIN]]]` (or `--servers`, `--dns-ip`, `--domain`),
 * validated and filled with defaults. Pure: the caller reads the host's resolv.conf and the apiserver's
 * `--service-cluster-ip-range` and passes them in.
 *
 * MicroK8s checked IPv4 with a regex and no ranges; here every address is range-checked, IPv6 works, and a
 * bad argument stops the command before anything on the node changes (UsageError, exit 2).
 */
import { isIP } from 'node:net';
import { PreconditionError, UsageError } from '../errors.js';

/** The literal that makes CoreDNS forward to the nameservers of the resolv.conf it sees (the node's, with dnsPolicy: Default). */
export const RESOLV_CONF = '/etc/resolv.conf';
/** Upstreams when neither the argument nor the host's resolv.conf gives usable ones (as MicroK8s). */
export const FALLBACK_SERVERS: readonly string[] = ['8.8.8.8', '8.8.4.4'];
/** MicroK8s's `--service-cluster-ip-range`. */
export const DEFAULT_SERVICE_CIDR = '10.152.183.0/24';
export const DEFAULT_DNS_IP = '10.152.183.10';
export const DEFAULT_DOMAIN = 'cluster.local';
/** CoreDNS's forward plugin takes at most 15 upstreams. */
export const MAX_SERVERS = 15;

/** The arguments as given; an empty string counts as not given (`dns::10.152.183.20`). */
export interface DnsArgsInput {
  /** Comma list of upstream nameservers, or `/etc/resolv.conf`. Default: the host's, else 8.8.8.8,8.8.4.4. */
  servers?: string | undefined;
  /** ClusterIP of the kube-dns Service. Default: the service range's tenth address (10.152.183.10). */
  dnsIp?: string | undefined;
  /** Cluster domain. Default cluster.local. */
  domain?: string | undefined;
}

/** What the caller read from the node. */
export interface DnsNodeFacts {
  /** Text of the host's resolv.conf (the one kubelet hands to pods with dnsPolicy: Default); undefined when missing. */
  resolvConf: string | undefined;
  /**
   * The apiserver's `--service-cluster-ip-range`: one CIDR, or an IPv4 and an IPv6 CIDR joined by a comma
   * (dual stack). Default 10.152.183.0/24.
   */
  serviceCidr?: string | undefined;
}

export interface DnsArgs {
  /** Upstreams in CoreDNS forward syntax: `1.1.1.1`, `1.1.1.1:5353`, `2606:4700::1111`, `[2606:4700::1111]:53`, or `/etc/resolv.conf`. */
  servers: string[];
  /** Canonical text of the kube-dns ClusterIP. */
  dnsIp: string;
  /** Lower-case cluster domain, no trailing dot. */
  domain: string;
  serversFrom: 'argument' | 'resolv.conf' | 'default';
}

const q = (s: string): string => JSON.stringify(s);

// ---------------------------------------------------------------------------------------------------
// Addresses as numbers

type Family = 4 | 6;
interface Ip {
  family: Family;
  value: bigint;
}

const bitsOf = (family: Family): number => (family === 4 ? 32 : 128);

function v4Value(text: string): bigint {
  return text.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

function v6Value(text: string): bigint {
  let s = text.toLowerCase();
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = v4Value(tail);
    s = `${s.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', rest] = s.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** An IPv4 or IPv6 address without zone (node:net's isIP does the syntax and octet-range checks). */
function parseIp(text: string): Ip | undefined {
  const family = isIP(text);
  if (family === 4) return { family, value: v4Value(text) };
  if (family === 6 && !text.includes('%')) return { family, value: v6Value(text) };
  return undefined;
}

function formatV4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

/** Canonical text (RFC 5952 for IPv6: lower case, longest zero run compressed, IPv4-mapped as ::ffff:a.b.c.d). */
function formatIp(ip: Ip): string {
  if (ip.family === 4) return formatV4(ip.value);
  const groups = Array.from({ length: 8 }, (_, i) => Number((ip.value >> BigInt(112 - 16 * i)) & 0xffffn));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${formatV4(ip.value & 0xffffffffn)}`;
  let bestStart = -1;
  let bestLength = 1; // a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** Addresses that, seen from the CoreDNS pod, are the pod itself or its link: no use as upstreams. */
function isLocal(ip: Ip): boolean {
  if (ip.family === 4) return ip.value >> 24n === 127n || ip.value === 0n;
  if (ip.value === 0n || ip.value === 1n) return true; // :: and ::1
  if (ip.value >> 32n === 0xffffn) return isLocal({ family: 4, value: ip.value & 0xffffffffn }); // ::ffff:127.0.0.1
  return ip.value >> 118n === 0x3fan; // fe80::/10 link-local
}

// ---------------------------------------------------------------------------------------------------
// SERVERS

const SERVERS_HINT = 'give IPv4 or IPv6 addresses with optional ports, e.g. 1.1.1.1,[2606:4700::1111]:53, or /etc/resolv.conf';

/** One upstream as written (`1.1.1.1`, `1.1.1.1:53`, `2606:4700::1111`, `[2606:4700::1111]:53`) in CoreDNS forward syntax. */
function parseServer(item: string, list: string): string {
  const badAddress = (): never => {
    throw new UsageError(`invalid dns server ${q(item)} in ${q(list)}: ${SERVERS_HINT}`);
  };
  let host: string;
  let port: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(item);
  if (bracketed) {
    host = bracketed[1] as string;
    port = bracketed[2];
    if (parseIp(host)?.family !== 6) badAddress();
  } else if (item.split(':').length === 2) {
    [host, port] = item.split(':') as [string, string];
    if (parseIp(host)?.family !== 4) badAddress();
  } else {
    host = item;
  }
  const ip = parseIp(host) ?? badAddress();
  if (isLocal(ip)) {
    throw new UsageError(
      `dns server ${q(item)} in ${q(list)} is a local address, which inside the CoreDNS pod is the pod itself: give the upstream servers, e.g. 1.1.1.1,8.8.8.8, or /etc/resolv.conf`,
    );
  }
  const address = formatIp(ip);
  if (port === undefined) return address;
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new UsageError(`invalid port ${q(port)} in dns server ${q(item)}: give a port from 1 to 65535, e.g. 1.1.1.1:5353 or [2606:4700::1111]:5353`);
  }
  return ip.family === 6 ? `[${address}]:${Number(port)}` : `${address}:${Number(port)}`;
}

/**
 * SERVERS as given: `/etc/resolv.conf`, or a comma list of addresses with optional ports. Returns them in
 * CoreDNS forward syntax; throws UsageError naming the bad entry.
 */
export function parseDnsServers(list: string): string[] {
  const items = list.split(',').map((s) => s.trim());
  if (items.includes(RESOLV_CONF)) {
    if (items.length > 1) {
      throw new UsageError(`${RESOLV_CONF} cannot be mixed with other dns servers in ${q(list)}: give either ${RESOLV_CONF} or a list of addresses`);
    }
    return [RESOLV_CONF];
  }
  const servers: string[] = [];
  for (const item of items) {
    if (item === '') throw new UsageError(`empty dns server in ${q(list)}: ${SERVERS_HINT}`);
    const server = parseServer(item, list);
    if (servers.includes(server)) throw new UsageError(`dns server ${q(item)} is given twice in ${q(list)}: give each server once`);
    servers.push(server);
  }
  if (servers.length > MAX_SERVERS) {
    throw new UsageError(`too many dns servers (${servers.length}) in ${q(list)}: CoreDNS's forward plugin takes at most ${MAX_SERVERS}`);
  }
  return servers;
}

/**
 * The `nameserver` entries of a resolv.conf that the CoreDNS pod can reach: loopback (127.0.0.0/8, ::1,
 * systemd-resolved's 127.0.0.53), unspecified and IPv6 link-local addresses are left out, as are malformed
 * lines; duplicates count once. In CoreDNS forward syntax.
 */
export function resolvConfServers(text: string): string[] {
  const servers: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const ip = parseIp(m[1] as string);
    if (!ip || isLocal(ip)) continue;
    const server = formatIp(ip);
    if (!servers.includes(server)) servers.push(server);
  }
  return servers.slice(0, MAX_SERVERS);
}

// ---------------------------------------------------------------------------------------------------
// DNS_IP

interface Cidr {
  /** Canonical `network/prefix`. */
  text: string;
  family: Family;
  network: bigint;
  last: bigint;
}

function parseCidr(text: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const ip = m ? parseIp(m[1] as string) : undefined;
  if (!m || !ip) return undefined;
  const prefix = Number(m[2]);
  const bits = bitsOf(ip.family);
  if (prefix > bits) return undefined;
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  const network = ip.value & ~hostMask;
  return { text: `${formatIp({ family: ip.family, value: network })}/${prefix}`, family: ip.family, network, last: network | hostMask };
}

/** The apiserver's service range(s); a broken value is a node problem (exit 3), not a usage error. */
export function parseServiceCidrs(text: string): Cidr[] {
  const parts = text.split(',').map((s) => s.trim());
  const cidrs = parts.map(parseCidr);
  const valid = cidrs.filter((c): c is Cidr => c !== undefined);
  if (valid.length !== parts.length || valid.length > 2 || (valid.length === 2 && valid[0]?.family === valid[1]?.family)) {
    throw new PreconditionError(
      `invalid kube-apiserver --service-cluster-ip-range ${q(text)}: expected a CIDR such as ${DEFAULT_SERVICE_CIDR}, or an IPv4 and an IPv6 CIDR joined by a comma; fix $SNAP_DATA/args/kube-apiserver`,
    );
  }
  return valid;
}

/** Why an address of the range cannot be the DNS Service's ClusterIP, or undefined when it can. */
function reservedReason(value: bigint, cidr: Cidr): string | undefined {
  if (value === cidr.network) return 'the network address';
  if (cidr.family === 4 && value === cidr.last) return 'the broadcast address';
  if (value === cidr.network + 1n) return 'taken by the kubernetes Service, as the first address';
  return undefined;
}

/** The range's tenth address, as kubeadm and MicroK8s (10.152.183.10) pick it; undefined when the range is too small. */
function tenthAddress(cidr: Cidr): string | undefined {
  const value = cidr.network + 10n;
  if (value > cidr.last || reservedReason(value, cidr)) return undefined;
  return formatIp({ family: cidr.family, value });
}

function resolveDnsIp(given: string | undefined, cidrs: Cidr[]): string {
  const primary = cidrs[0] as Cidr;
  const ranges = cidrs.map((c) => c.text).join(' and ');
  const rangeWord = cidrs.length > 1 ? 'service ranges' : 'service range';
  const example = tenthAddress(primary);
  const eg = example ? `, e.g. ${example}` : '';
  if (given === undefined || given === '') {
    if (!example) {
      throw new UsageError(`the ${rangeWord} ${ranges} is too small for the default DNS_IP (its tenth address): give DNS_IP (--dns-ip), an address inside it`);
    }
    return example;
  }
  const ip = parseIp(given);
  if (!ip) throw new UsageError(`invalid DNS_IP ${q(given)}: give an IPv4 or IPv6 address inside the ${rangeWord} ${ranges}${eg}`);
  const text = formatIp(ip);
  const cidr = cidrs.find((c) => c.family === ip.family && ip.value >= c.network && ip.value <= c.last);
  if (!cidr) {
    throw new UsageError(`DNS_IP ${text} is outside the ${rangeWord} ${ranges} (kube-apiserver --service-cluster-ip-range): give an address inside it${eg}`);
  }
  const reason = reservedReason(ip.value, cidr);
  if (reason) throw new UsageError(`DNS_IP ${text} is ${reason} of the service range ${cidr.text}: give another address inside it${eg}`);
  return text;
}

// ---------------------------------------------------------------------------------------------------
// DOMAIN

const DOMAIN_HINT = 'give a DNS name such as cluster.local (dot-separated labels of 1-63 letters, digits and inner hyphens)';

function resolveDomain(given: string | undefined): string {
  if (given === undefined || given === '') return DEFAULT_DOMAIN;
  if (given.length > 1 && given.endsWith('.') && !given.endsWith('..')) {
    throw new UsageError(`invalid domain ${q(given)}: write it without the trailing dot, e.g. ${given.slice(0, -1)}`);
  }
  if (given.length > 253) throw new UsageError(`invalid domain ${q(given)}: it is longer than 253 characters; ${DOMAIN_HINT}`);
  for (const label of given.split('.')) {
    let why: string | undefined;
    if (label === '') why = 'is empty';
    else if (label.length > 63) why = 'is longer than 63 characters';
    else if (!/^[A-Za-z0-9-]+$/.test(label)) why = 'has characters other than letters, digits and hyphens';
    else if (label.startsWith('-') || label.endsWith('-')) why = 'starts or ends with a hyphen';
    if (why) throw new UsageError(`invalid domain ${q(given)}: label ${q(label)} ${why}; ${DOMAIN_HINT}`);
  }
  // An all-digit top label makes a name that reads as an address (RFC 3696 section 2): most often DNS_IP
  // given one field too far right (`dns:::10.152.183.20`).
  if (isIP(given) === 4) {
    throw new UsageError(`invalid domain ${q(given)}: it is an IP address; DNS_IP is the field before DOMAIN: dns::${given} (or --dns-ip ${given})`);
  }
  const top = given.split('.').at(-1) as string;
  if (/^\d+$/.test(top)) throw new UsageError(`invalid domain ${q(given)}: its last label ${q(top)} is all digits; ${DOMAIN_HINT}`);
  return given.toLowerCase();
}

// ---------------------------------------------------------------------------------------------------

/**
 * Validates `dns[:SERVERS[:DNS_IP[:DOMAIN]]]` and fills in the defaults: SERVERS from the argument, else the
 * reachable nameservers of the host's resolv.conf, else 8.8.8.8,8.8.4.4; DNS_IP inside the service range and
 * not its network, broadcast or first (kubernetes Service) address, default the range's tenth address
 * (10.152.183.10); DOMAIN a DNS name, default cluster.local. Throws UsageError naming the bad part.
 */
export function resolveDnsArgs(input: DnsArgsInput, node: DnsNodeFacts): DnsArgs {
  let servers: string[];
  let serversFrom: DnsArgs['serversFrom'];
  if (input.servers !== undefined && input.servers !== '') {
    servers = parseDnsServers(input.servers);
    serversFrom = 'argument';
  } else {
    const fromHost = node.resolvConf === undefined ? [] : resolvConfServers(node.resolvConf);
    servers = fromHost.length > 0 ? fromHost : [...FALLBACK_SERVERS];
    serversFrom = fromHost.length > 0 ? 'resolv.conf' : 'default';
  }
  const cidrs = parseServiceCidrs(node.serviceCidr === undefined || node.serviceCidr === '' ? DEFAULT_SERVICE_CIDR : node.serviceCidr);
  const dnsIp = resolveDnsIp(input.dnsIp, cidrs);
  const domain = resolveDomain(input.domain);
  return { servers, dnsIp, domain, serversFrom };
}
