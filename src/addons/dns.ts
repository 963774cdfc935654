/**
 * dns: validates `dns[:SERVERS[:DNS_IP[:DOMAIN]]]` against the node (its resolv.conf, the apiserver's
 * --service-cluster-ip-range), renders the CoreDNS objects from templates/dns/, and registers the
 * Corefile edit that changes only the forward plugin of the .:53 block (user edits survive).
 */
import type { PlannedAddon } from '../planner.js';
import type { AddonNode, PreparedAddon } from './hooks.js';
import { readText } from '../adapters/fs.js';
import { getFlag } from '../node/args-file.js';
import { nodeFiles, readSandboxMarker } from '../node/node.js';
import { resolveDnsArgs, RESOLV_CONF } from '../dns/args.js';
import { renderCoreDnsObjects } from '../dns/objects.js';
import { parseCorefile, printCorefile, setForwarders } from '../dns/corefile.js';
import { registerConfigMapEdit } from '../engine/kinds/kube.js';

export async function prepareDns(addon: PlannedAddon, node: AddonNode): Promise<PreparedAddon> {
  const marker = await readSandboxMarker(node.paths);
  // A sandbox may give its own resolv.conf (the host's is whatever the test machine has).
  const resolvConf = await readText(marker?.resolvConf ?? RESOLV_CONF);
  const apiserverArgs = (await readText(nodeFiles(node.paths).args('kube-apiserver'))) ?? '';
  const serviceCidr = getFlag(apiserverArgs, '--service-cluster-ip-range')?.replace(/^["']|["']$/g, '');
  const str = (k: string) => (typeof addon.args[k] === 'string' ? (addon.args[k] as string) : undefined);
  const dns = resolveDnsArgs({ servers: str('servers'), dnsIp: str('dns-ip'), domain: str('domain') }, { resolvConf, serviceCidr });
  const objects = await renderCoreDnsObjects(dns);
  const configMap = objects.find((o) => o.kind === 'ConfigMap');
  const initialCorefile = (configMap?.data as Record<string, string> | undefined)?.Corefile ?? '';
  registerConfigMapEdit('corefile-forwarders', (current, args) => {
    if (current === undefined) return initialCorefile;
    return printCorefile(setForwarders(parseCorefile(current, { source: 'configmap/coredns' }), args.servers as string[]).corefile);
  });
  return {
    vars: {
      servers: dns.servers,
      dnsIp: dns.dnsIp,
      domain: dns.domain,
      serversFrom: dns.serversFrom,
      // The ConfigMap is the kube-configmap step's: re-applying it would throw away the user's edits.
      objects: objects.filter((o) => o.kind !== 'ConfigMap'),
      configMapLabels: configMap?.metadata.labels ?? {},
    },
  };
}
