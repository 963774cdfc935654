/** Help texts. Pure; built from the same option table the parser uses. */
import { GLOBAL_OPTIONS } from './grammar.js';
import { datapathHelp } from './datapath/render.js';
import { STATUS_HELP, RESET_HELP, APPLY_HELP } from './lifecycle/help.js';

export const MICROK8S_REPO_HELP = `Usage: mk8s-addons microk8s-repo install|remove|status [--name NAME]

Makes "microk8s enable", "microk8s disable" and "microk8s status" (MicroK8s 1.24 and later) go through
mk8s-addons: install writes an addons repository into $SNAP_COMMON/addons/NAME/ (default name
mk8s-addons) whose hooks run this mk8s-addons; remove deletes it; status says whether it is there and
whether MicroK8s's view of each addon agrees with mk8s-addons's journal.

  sudo mk8s-addons microk8s-repo install
  sudo microk8s enable mk8s-addons/dns:1.1.1.1     dns and helm3 are in MicroK8s's core repository too
  sudo microk8s enable cilium:v1.8
  sudo mk8s-addons microk8s-repo remove

MicroK8s skips an addon it already reports enabled, so to change an enabled addon (a new version or
arguments) run mk8s-addons enable directly. On a cluster, install the repository on every node.
`;

export const COMPLETION_HELP = `Usage: mk8s-addons completion bash|zsh|fish

Prints a completion script for the shell: commands, options and their values, addon names, and the
versions after "cilium:" (from the catalogue of this mk8s-addons).

  source <(mk8s-addons completion bash)                  # in ~/.bashrc
  mk8s-addons completion bash | sudo tee /etc/bash_completion.d/mk8s-addons
  source <(mk8s-addons completion zsh)                   # in ~/.zshrc, after compinit
  mk8s-addons completion fish > ~/.config/fish/completions/mk8s-addons.fish
`;

function optionLines(): string {
  const seen = new Set<string>();
  const rows: [string, string][] = [];
  for (const [flag, spec] of Object.entries(GLOBAL_OPTIONS)) {
    if (seen.has(spec.key)) continue;
    seen.add(spec.key);
    const alias = spec.key === 'help' ? '-h, ' : '';
    rows.push([`${alias}${flag}${spec.placeholder ? ` ${spec.placeholder}` : ''}`, spec.description]);
  }
  rows.push(['--version', 'print the mk8s-addons version']);
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, d]) => `  ${l.padEnd(width)}  ${d}`).join('\n');
}

export function mainHelp(): string {
  return `mk8s-addons: install and manage MicroK8s addons (Cilium with Hubble, CoreDNS, Helm 3),
safe to re-run, previewable with --dry-run, reversible and scriptable.

Usage:
  mk8s-addons enable NAME[:ARG[:ARG...]] [NAME[:ARG...]...] [--node NODE[,NODE...]] [options]
  mk8s-addons enable NAME [--flag VALUE...] [options]
  mk8s-addons disable NAME [NAME...] [--node NODE[,NODE...]] [options]
  mk8s-addons list [--output json]
  mk8s-addons status [--format pretty|yaml|json] [--wait-ready [--timeout D]] [-a NAME]
  mk8s-addons reset [--destroy-storage]
  mk8s-addons apply -f FILE [--prune]
  mk8s-addons start | stop
  mk8s-addons cilium -- ARGS...
  mk8s-addons sandbox up|status|env|down [--dir DIR] [--layout 1.20|1.35] [--nodes N] [--kwok-nodes M]
  mk8s-addons datapath [--netns NAME] [--from FILE] [--cilium-version V]
  mk8s-addons microk8s-repo install|remove|status [--name NAME]
  mk8s-addons nodes [--node NAME[,NAME...]]
  mk8s-addons completion bash|zsh|fish

Examples:
  sudo mk8s-addons enable cilium:v1.8              newest bundled Cilium 1.8.x (helm3 first)
  sudo mk8s-addons enable cilium --version 1.9.18  the same grammar in flag style
  sudo mk8s-addons enable dns:1.1.1.1,8.8.8.8      CoreDNS forwarding to these servers
  sudo mk8s-addons enable dns:1.1.1.1:10.152.183.20:cluster.local
  mk8s-addons enable cilium:v1.8 hubble:ui --dry-run --output json
  mk8s-addons list
  sudo mk8s-addons sandbox up --layout 1.20     a MicroK8s-shaped node to try it on

Options:
${optionLines()}

Exit codes: 0 done (also "already enabled"), 1 a step failed, 2 invalid input (nothing changed),
3 a precondition is not met (MicroK8s missing or stopped, worker node, lock held, permissions),
70 an internal error (a bug: please report it).
`;
}

export function commandHelp(command: string): string {
  switch (command) {
    case 'enable':
      return `Usage: mk8s-addons enable NAME[:ARG[:ARG...]] [NAME[:ARG...]...] [--node NODE[,NODE...]] [options]

Enables addons in the order given, dependencies first (cilium enables helm3; hubble needs cilium).
Each ":" segment is one positional argument; the same arguments can be given as flags after the
name (cilium --version 1.9), but not both styles for one addon.
On a cluster, the addons' node steps run here and on every other node; --node (repeatable, or a comma
list) restricts them to the nodes named (see "mk8s-addons nodes").

Examples:
  mk8s-addons enable cilium:v1.8 --dry-run
  mk8s-addons enable cilium --version 1.9.18 --set hubble.enabled=true
  mk8s-addons enable dns:1.1.1.1,[2606:4700::1111]:53

Run "mk8s-addons list" for the addons, their arguments and versions; "mk8s-addons --help" for options.
`;
    case 'disable':
      return `Usage: mk8s-addons disable NAME [NAME...] [--node NODE[,NODE...]] [options]

Disables addons, dependants first, undoing exactly what enable changed, on every node of a cluster.
With --node, only the addons' node steps are undone, and only on the other nodes named; this node and
the cluster-wide steps stay (the next enable converges those nodes again).

Example:
  mk8s-addons disable cilium --dry-run
`;
    case 'list':
      return `Usage: mk8s-addons list [--output pretty|plain|json]

Prints the addon catalogue: name, default version, description, available versions.
`;
    case 'datapath':
      return datapathHelp();
    case 'status':
      return STATUS_HELP;
    case 'reset':
      return RESET_HELP;
    case 'apply':
      return APPLY_HELP;
    case 'microk8s-repo':
      return MICROK8S_REPO_HELP;
    case 'completion':
      return COMPLETION_HELP;
    default:
      return mainHelp();
  }
}
