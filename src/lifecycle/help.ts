/**
 * Help texts of status, reset and apply: strings only, so src/help.ts can show them (`mk8s-addons help
 * status`) without loading the commands.
 */

export const STATUS_HELP = `Usage: mk8s-addons status [--format pretty|yaml|json] [--wait-ready [--timeout DURATION]] [-a NAME] [--datapath]

Shows whether MicroK8s is running and each addon's status: enabled, disabled, or degraded (the journal
says enabled, but the node or the cluster disagrees: the reason says what is missing). Read-only: takes
no lock, and works without root when the node's files are readable.

Options:
  --format pretty|yaml|json  output (default pretty; --output json gives json)
  --wait-ready               first wait until the node is Ready and service/kubernetes exists
  --timeout DURATION         how long --wait-ready waits (default 5m)
  -a, --addon NAME           print only NAME's status: enabled, disabled or degraded
  --datapath                 add the datapath check (mk8s-addons datapath) when cilium is enabled

Exit codes: 0 every enabled addon is as recorded, 1 an addon is degraded, 2 invalid input,
3 not a MicroK8s node, files not readable, or not ready after --timeout (--wait-ready).
`;

export const RESET_HELP = `Usage: mk8s-addons reset [--destroy-storage] [--dry-run]

Puts MicroK8s back as it was before mk8s-addons: finishes or rolls back an interrupted operation,
disables every enabled addon (dependants first), then restores every node file mk8s-addons ever changed
(args files, locks, CNI configs, binaries) from the journal's snapshot, saying which, and restarts the
daemons that read restored args files. On a cluster, every other node does the same with its own journal
(through its cluster agent). Running it again does nothing.

Refused on a worker node, and while the cluster has a node mk8s-addons cannot reach (exit 3, naming it).

Options:
  --destroy-storage  also remove the data of addons that keep storage (no addon in the catalogue does)
  --dry-run          show what would be disabled and restored; change nothing
`;

export const APPLY_HELP = `Usage: mk8s-addons apply -f FILE [--prune] [--dry-run] [--output json]

Converges this node to FILE, a YAML list of the addons it should have:

  addons:
    - name: dns
      args: { servers: "1.1.1.1", domain: cluster.local }   # or: arguments: ["1.1.1.1"]
    - name: cilium
      version: "1.9"
      values: { hubble: { enabled: true } }                  # chart values, as --set

Listed addons are enabled, upgraded or reconfigured, dependencies first; steps already as wanted are
skipped, so applying the same file again changes nothing. The JSON Schema of the file is
schemas/apply.schema.json in the package.

Options:
  -f, --file FILE  the file (required)
  --prune          also disable installed addons the file does not list (dependants first)
  --dry-run        print the plan and what would change; change nothing
`;
