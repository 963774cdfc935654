/**
 * Reads the DNS addon's templates (templates/dns/ at the package root). The one file-system call of the
 * DNS modules, kept apart so the rendering in src/dns/objects.ts stays pure and testable with any text.
 */
import { readFile } from 'node:fs/promises';
import { packagePath } from '../adapters/package-files.js';

/** The DNS templates by role. */
export const DNS_TEMPLATE_FILES = {
  /** All CoreDNS objects in kube-system, one YAML document each. */
  objects: 'coredns.yaml.hbs',
  /** MicroK8s's default Corefile, the body of configmap/coredns. */
  corefile: 'Corefile.hbs',
} as const;

export type DnsTemplateName = keyof typeof DNS_TEMPLATE_FILES;

/** Absolute path of a DNS template, e.g. `dnsTemplatePath('objects')` -> `<package>/templates/dns/coredns.yaml.hbs`. */
export function dnsTemplatePath(name: DnsTemplateName): string {
  return packagePath('templates', 'dns', DNS_TEMPLATE_FILES[name]);
}

/** Text of a DNS template. */
export async function readDnsTemplate(name: DnsTemplateName): Promise<string> {
  return readFile(dnsTemplatePath(name), 'utf8');
}
