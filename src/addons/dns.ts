/**
 * dns: validates `dns[:SERVERS[:DNS_IP[:DOMAIN]]]` against the node (its resolv.conf, the apiserver's
 * --service-cluster-ip-range), renders the CoreDNS objects from templates/dns/, and returns the
 * Corefile edit that changes only the forward servers and the cluster domain of the .:53 block (user edits
 * survive).
 *
 * On a cluster that already runs CoreDNS, a part not given keeps what the cluster has rather than going
 * back to its default: the forward servers of configmap/coredns (which users edit by hand), the kube-dns
 * Service's ClusterIP (which cannot change), kubelet's --cluster-domain. Defaults apply to a first enable.
 */
import type { PlannedAddon } from '../planner.js';
import type { AddonNode, PreparedAddon } from './hooks.js';
import type { ConfigMapEdit } from '../engine/kinds/types.js';
import { readText } from '../adapters/fs.js';
import { connect, readObject } from '../adapters/kube.js';
import { getFlag } from '../node/args-file.js';
import { nodeFiles } from '../node/node.js';
import { resolveDnsArgs } from '../dns/args.js';
import { DNS_NAMESPACE, renderCoreDnsObjects } from '../dns/objects.js';
import { assertCoreDnsLoads, forwardChain, getForwarders, parseCorefile, printCorefile, setClusterDomain, setForwarders } from '../dns/corefile.js';
import { PreconditionError, UsageError } from '../errors.js';

const unquote = (v: string | undefined) => v?.replace(/^["']|["']$/g, '');

/**
 * What the cluster and kubelet have now: the parts a re-enable keeps when they are not given. Node-local
 * (another node's fan-out: only the kubelet steps) reads no Corefile: only the ConfigMap step uses it.
 */
async function liveDns(node: AddonNode, kubeletArgs: string) {
  const k = await connect(node.kubeconfig);
  const service = await readObject<{ apiVersion: string; kind: string; spec?: { clusterIP?: string } }>(k, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kube-dns', namespace: DNS_NAMESPACE },
  });
  const configMap = node.nodeLocal
    ? undefined
    : await readObject<{ apiVersion: string; kind: string; data?: Record<string, string> }>(k, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'coredns', namespace: DNS_NAMESPACE },
      });
  const clusterIp = service?.spec?.clusterIP;
  return {
    clusterIp: clusterIp && clusterIp !== 'None' ? clusterIp : undefined,
    corefile: configMap?.data?.Corefile,
    domain: unquote(getFlag(kubeletArgs, '--cluster-domain')),
  };
}

export async function prepareDns(addon: PlannedAddon, node: AddonNode): Promise<PreparedAddon> {
  const resolvConf = await readText(node.resolvConf);
  const files = nodeFiles(node.paths);
  const apiserverArgs = (await readText(files.args('kube-apiserver'))) ?? '';
  const kubeletArgs = (await readText(files.args('kubelet'))) ?? '';
  const serviceCidr = unquote(getFlag(apiserverArgs, '--service-cluster-ip-range'));
  const str = (k: string) => (typeof addon.args[k] === 'string' && addon.args[k] !== '' ? (addon.args[k] as string) : undefined);
  const given = { servers: str('servers'), dnsIp: str('dns-ip'), domain: str('domain') };
  // The arguments first: a bad one stops the command before anything else is read.
  const dns = resolveDnsArgs(given, { resolvConf, serviceCidr });
  const live = await liveDns(node, kubeletArgs);
  const notes: string[] = [];

  if (live.clusterIp !== undefined && live.clusterIp !== dns.dnsIp) {
    if (given.dnsIp !== undefined) {
      throw new PreconditionError(
        `service/kube-dns in ${DNS_NAMESPACE} has ClusterIP ${live.clusterIp}, and a Service's ClusterIP cannot change: to move DNS to ${dns.dnsIp}, run "mk8s-addons disable dns", then "mk8s-addons enable dns::${dns.dnsIp}" (disable removes configmap/coredns: save your edits of it first)`,
      );
    }
    dns.dnsIp = live.clusterIp;
    notes.push(`keeping DNS_IP ${live.clusterIp}, the ClusterIP of service/kube-dns`);
  }
  if (given.domain === undefined && live.domain !== undefined) {
    let domain: string | undefined;
    try {
      domain = resolveDnsArgs({ domain: live.domain }, { resolvConf, serviceCidr }).domain;
    } catch (err) {
      // Not a usable domain: the default replaces it, as the kubelet step will show.
      if (!(err instanceof UsageError)) throw err;
    }
    if (domain !== undefined && domain !== dns.domain) {
      dns.domain = domain;
      notes.push(`keeping DOMAIN ${domain}, kubelet's --cluster-domain`);
    }
  }
  // Another node's fan-out runs only the kubelet steps here: their vars (the domain and DNS_IP above) are
  // all it needs; the Corefile checks and CoreDNS's objects are the cluster-wide steps'.
  if (node.nodeLocal) return { vars: { domain: dns.domain, dnsIp: dns.dnsIp } };
  const keepServers = given.servers === undefined && live.corefile !== undefined;
  // A Corefile CoreDNS would not load is said before anything changes (the edit checks again at its step).
  if (live.corefile !== undefined) assertCoreDnsLoads(parseCorefile(live.corefile, { source: 'configmap/coredns' }));
  if (!keepServers && live.corefile !== undefined) {
    const chain = forwardChain(parseCorefile(live.corefile, { source: 'configmap/coredns' }));
    if (chain.length > 1) {
      const rest = chain.slice(1).map((f) => `line ${f.line}: ${f.servers.join(' ')}`).join('; ');
      notes.push(`configmap/coredns chains ${chain.length} "forward ." plugins: the first (line ${(chain[0] as { line: number }).line}) gets the new servers, the ones it hands queries on to stay (${rest}); edit them by hand to change them`);
    }
  }
  if (keepServers) {
    const current = getForwarders(parseCorefile(live.corefile as string, { source: 'configmap/coredns' }));
    if (current !== undefined && current.join(' ') !== dns.servers.join(' ')) {
      notes.push(`keeping the forward servers of configmap/coredns (${current.join(' ')}): give dns:SERVERS to change them`);
    }
  }

  const objects = await renderCoreDnsObjects(dns);
  const configMap = objects.find((o) => o.kind === 'ConfigMap');
  const initialCorefile = (configMap?.data as Record<string, string> | undefined)?.Corefile ?? '';
  const corefileEdit: ConfigMapEdit = (current, args) => {
    if (current === undefined) return initialCorefile;
    let cf = parseCorefile(current, { source: 'configmap/coredns' });
    if (!keepServers) cf = setForwarders(cf, args.servers as string[]).corefile;
    cf = setClusterDomain(cf, dns.domain).corefile;
    return printCorefile(cf);
  };
  return {
    edits: { 'corefile-forwarders': corefileEdit },
    vars: {
      servers: dns.servers,
      dnsIp: dns.dnsIp,
      domain: dns.domain,
      serversFrom: dns.serversFrom,
      // The ConfigMap is the kube-configmap step's: re-applying it would throw away the user's edits.
      objects: objects.filter((o) => o.kind !== 'ConfigMap'),
      configMapLabels: configMap?.metadata.labels ?? {},
    },
    notes,
  };
}
