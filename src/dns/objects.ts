/**
 * The CoreDNS objects of the dns addon, rendered from templates/dns/ (Handlebars) and parsed into plain
 * objects for the kube-apply step: ServiceAccount, ClusterRole and ClusterRoleBinding `coredns`, ConfigMap
 * `coredns` (MicroK8s's default Corefile), Deployment `coredns` and Service `kube-dns` in kube-system.
 *
 * No value can change the structure of what is rendered: in YAML every value is a JSON string with all
 * non-ASCII characters escaped (one double-quoted scalar, whatever it holds); in the Corefile a value must
 * be one plain token, else rendering fails. Handlebars and js-yaml load only when rendering.
 */
import type { HelperOptions } from 'handlebars';
import { BUG_REPORT_HINT, InternalError } from '../errors.js';
import { getForwarders, isPlainCorefileWord, parseCorefile } from './corefile.js';
import { DNS_TEMPLATE_FILES, readDnsTemplate } from './template-files.js';

/** The CoreDNS image the addon deploys (the catalogue's dns version). */
export const COREDNS_IMAGE = 'coredns/coredns:1.12.1';
export const DNS_NAMESPACE = 'kube-system';

/** What the objects depend on: the output of resolveDnsArgs (src/dns/args.ts). */
export interface CoreDnsParams {
  /** Upstreams in CoreDNS forward syntax. */
  servers: readonly string[];
  /** ClusterIP of Service kube-dns. */
  dnsIp: string;
  /** Cluster domain served by the kubernetes plugin. */
  domain: string;
}

/** A Kubernetes object as rendered. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Template texts; each one missing is read from templates/dns/. */
export interface DnsTemplateTexts {
  objects?: string;
  corefile?: string;
}

/**
 * A YAML double-quoted scalar holding exactly `value`: JSON string syntax (YAML reads it the same) with
 * every character outside printable ASCII escaped, so line separators, NEL or a BOM cannot end the scalar.
 */
export function yamlQuoted(value: string): string {
  return JSON.stringify(value).replace(/[^\x20-\x7e]/gu, (c) => {
    const code = c.codePointAt(0) as number;
    // YAML's \U takes a whole code point, where JSON would need a surrogate pair.
    return code > 0xffff ? `\\U${code.toString(16).padStart(8, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

async function templateEngine() {
  const { default: Handlebars } = await import('handlebars');
  const hb = Handlebars.create();
  hb.registerHelper('json', (value: unknown, _options: HelperOptions) => {
    if (typeof value !== 'string') throw new InternalError(`template value ${JSON.stringify(value)} is not a string; ${BUG_REPORT_HINT}`);
    return yamlQuoted(value);
  });
  hb.registerHelper('word', (value: unknown, _options: HelperOptions) => {
    if (typeof value !== 'string' || !isPlainCorefileWord(value)) {
      throw new InternalError(`cannot write ${JSON.stringify(value)} into the Corefile as one word; ${BUG_REPORT_HINT}`);
    }
    return value;
  });
  return hb;
}

async function render(name: keyof typeof DNS_TEMPLATE_FILES, text: string | undefined, context: object): Promise<string> {
  const hb = await templateEngine();
  const template = hb.compile(text ?? (await readDnsTemplate(name)), { strict: true, noEscape: true });
  return template(context);
}

/**
 * MicroK8s's default Corefile for DOMAIN and SERVERS. Checked by parsing it back: it must read as one `.:53`
 * block forwarding to exactly `servers`.
 */
export async function renderCorefile(p: Pick<CoreDnsParams, 'servers' | 'domain'>, templates: DnsTemplateTexts = {}): Promise<string> {
  if (p.servers.length === 0) throw new InternalError(`the Corefile needs at least one upstream server; ${BUG_REPORT_HINT}`);
  const text = await render('corefile', templates.corefile, { servers: p.servers, domain: p.domain });
  const where = `templates/dns/${DNS_TEMPLATE_FILES.corefile}`;
  const forwarders = getForwarders(parseCorefile(text, { source: where }));
  if (JSON.stringify(forwarders) !== JSON.stringify(p.servers)) {
    throw new InternalError(`${where} renders forward servers ${JSON.stringify(forwarders)} instead of ${JSON.stringify(p.servers)}; ${BUG_REPORT_HINT}`);
  }
  return text;
}

/** The rendered YAML of every CoreDNS object (several documents). */
export async function renderCoreDnsYaml(p: CoreDnsParams, templates: DnsTemplateTexts = {}): Promise<string> {
  const corefile = await renderCorefile(p, templates);
  return render('objects', templates.objects, { corefile, dnsIp: p.dnsIp, image: COREDNS_IMAGE });
}

function isKubeObject(doc: unknown): doc is KubeObject {
  if (typeof doc !== 'object' || doc === null) return false;
  const o = doc as Record<string, unknown>;
  const metadata = o.metadata as Record<string, unknown> | undefined;
  return typeof o.apiVersion === 'string' && typeof o.kind === 'string' && typeof metadata?.name === 'string';
}

/** The CoreDNS objects, parsed, in apply order (RBAC and ConfigMap before the Deployment that uses them). */
export async function renderCoreDnsObjects(p: CoreDnsParams, templates: DnsTemplateTexts = {}): Promise<KubeObject[]> {
  const text = await renderCoreDnsYaml(p, templates);
  const { default: yaml } = await import('js-yaml');
  const where = `templates/dns/${DNS_TEMPLATE_FILES.objects}`;
  const docs = yaml.loadAll(text, undefined, { filename: where }).filter((d) => d !== null && d !== undefined);
  for (const doc of docs) {
    if (!isKubeObject(doc)) throw new InternalError(`${where} renders a document without apiVersion, kind and metadata.name; ${BUG_REPORT_HINT}`);
  }
  return docs as KubeObject[];
}
