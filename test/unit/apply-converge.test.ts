/** What converging to an apply file will do and did, per addon: pure comparisons with the journal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { outcomes, plannedChanges } from '../../src/lifecycle/converge.js';
import { plan } from '../../src/planner.js';
import type { EnabledAddon } from '../../src/engine/journal.js';
import { catalogue, specs } from '../support/catalogue.js';

const record = (version: string | null, args: EnabledAddon['args'] = {}, options: EnabledAddon['options'] = {}, updatedAt = 't0'): EnabledAddon => ({
  version,
  requested: null,
  args,
  options,
  enabledAt: 't0',
  updatedAt,
  steps: [],
});

const planned = (line: string, installed: Record<string, EnabledAddon>) =>
  plan({ command: 'enable', specs: specs(line).specs, catalogue: catalogue(), installed: new Map(Object.entries(installed).map(([n, a]) => [n, a.version])) }).addons;

test('planned changes: enable, dependency, upgrade, downgrade, reconfigure, check, prune', () => {
  const installed = {
    dns: record('1.12.1', { servers: '8.8.8.8' }),
    cilium: record('1.20.0'),
    hubble: record(null),
  };
  assert.deepEqual(
    plannedChanges(planned('dns:1.1.1.1 cilium:1.9', installed), installed, ['hubble'], catalogue()).map((c) => c.text),
    [
      'reconfigure dns: servers 8.8.8.8 -> 1.1.1.1',
      'enable helm3 3.17.2 (required by cilium)',
      'downgrade cilium 1.20.0 -> 1.9.18',
      'disable hubble (not in the file; --prune)',
    ],
  );
  const old = { cilium: record('1.9.18', { version: '1.9' }), helm3: record('3.17.2') };
  assert.deepEqual(
    plannedChanges(planned('cilium:1.20 --set hubble.enabled=true', old), old, [], catalogue()).map((c) => [c.action, c.text]),
    [
      ['check', 'helm3 3.17.2 is enabled as wanted; its steps are checked against the node'],
      ['upgrade', 'upgrade cilium 1.9.18 -> 1.20.0'],
    ],
  );
  // No version asked for: the installed one stays; the version argument is not an argument change.
  assert.deepEqual(
    plannedChanges(planned('cilium --set hubble.enabled=true', old), old, [], catalogue()).map((c) => c.text),
    ['helm3 3.17.2 is enabled as wanted; its steps are checked against the node', 'reconfigure cilium: --set (default) -> hubble.enabled=true'],
  );
});

test('outcomes: what the journal says changed', () => {
  const before = { dns: record('1.12.1', { servers: '8.8.8.8' }), helm3: record('3.17.2'), cilium: record('1.9.18'), hubble: record(null) };
  const after = {
    dns: record('1.12.1', { servers: '1.1.1.1' }, {}, 't1'),
    cilium: record('1.20.0', {}, {}, 't1'),
    hubble: record(null, {}, {}, 't1'),
    helm3: record('3.17.2'),
  };
  assert.deepEqual(outcomes(before, after, catalogue()), ['cilium 1.9.18 -> 1.20.0', 'dns reconfigured', 'hubble repaired']);
  assert.deepEqual(outcomes({ dns: record('1.12.1') }, { helm3: record('3.17.2') }, catalogue()), ['dns disabled', 'helm3 enabled']);
  assert.deepEqual(outcomes(after, after, catalogue()), []);
  // The version argument as written may differ; the version is what counts.
  assert.deepEqual(outcomes({ cilium: record('1.9.18', { version: 'v1.9' }) }, { cilium: record('1.9.18') }, catalogue()), []);
});
