/** The helm-release step's --dry-run values diff: the text itself, at every depth. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { valuesDiff } from '../../src/engine/kinds/helm.js';

test('helm release diff: a nested change shows in the diff, with keys sorted at every depth', () => {
  const deployed = { hubble: { relay: { enabled: false }, enabled: true }, cni: { binPath: '/x' } };
  const wanted = { hubble: { relay: { enabled: true }, enabled: true }, cni: { binPath: '/x' } };
  assert.equal(
    valuesDiff('cilium', deployed, wanted),
    [
      '--- release cilium values\tnow',
      '+++ release cilium values\tafter',
      '@@ -6,5 +6,5 @@',
      '     "enabled": true,',
      '     "relay": {',
      '-      "enabled": false',
      '+      "enabled": true',
      '     }',
      '   }',
    ].join('\n'),
  );
});

test('helm release diff: lists keep their order, maps inside them are sorted, __proto__ is a key like any other', () => {
  const wanted = JSON.parse('{"z": [{"b": 1, "a": 2}, 3], "__proto__": {"y": 1, "x": 2}}') as unknown;
  assert.equal(
    valuesDiff('demo', {}, wanted),
    [
      '--- release demo values\tnow',
      '+++ release demo values\tafter',
      '@@ -1,1 +1,13 @@',
      '-{}',
      '+{',
      '+  "__proto__": {',
      '+    "x": 2,',
      '+    "y": 1',
      '+  },',
      '+  "z": [',
      '+    {',
      '+      "a": 2,',
      '+      "b": 1',
      '+    },',
      '+    3',
      '+  ]',
      '+}',
    ].join('\n'),
  );
});

test('helm release diff: the same values give no hunk', () => {
  assert.equal(valuesDiff('demo', { a: { b: [1] } }, { a: { b: [1] } }), '--- release demo values\tnow\n+++ release demo values\tafter');
});
