/**
 * Helm v3.17.2's own `--set` / `--set-string` test tables (pkg/strvals/parser_test.go), from
 * ../shared/corpora/helm-strvals: `cases.json` holds the inputs and what Helm's test expects,
 * `helm-3.17.2.json` what the helm binary itself produced for each (values, or the error it printed).
 * parseSetInto must agree with both on every case.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSetInto, StrvalsError, type HelmValues } from '../../src/cilium/helm-values.js';
import { corpusText } from '../support/corpora.js';

interface Case {
  id: number;
  source: string;
  fn: 'Parse' | 'ParseString' | 'ParseInto' | 'ParseIntoString';
  lines: string[];
  initial: HelmValues | null;
  expect: HelmValues | null;
  err: boolean;
}
interface Result {
  id: number;
  rejected: boolean;
  values?: HelmValues;
  error?: string;
}

/** Helm's message for a value of the wrong type where a map or list is needed: a recovered Go panic. */
const GO_PANIC = /^unable to parse key: interface conversion: interface \{\} is (.+), not (.+)$/;
const GO_TYPES: Record<string, string> = {
  '[]interface {}': 'a list',
  'map[string]interface {}': 'a map',
  string: 'a string',
  int64: 'a number',
  float64: 'a number',
  bool: 'a boolean',
  nil: 'nil',
};

const cases = (JSON.parse(corpusText('helm-strvals', 'cases.json')) as { cases: Case[] }).cases;
const results = new Map((JSON.parse(corpusText('helm-strvals', 'helm-3.17.2.json')) as { results: Result[] }).results.map((r) => [r.id, r]));

test('the corpus holds the 60 cases of Helm v3.17.2, each with the helm binary\'s result', () => {
  assert.equal(cases.length, 60);
  for (const c of cases) assert.ok(results.has(c.id), `case ${c.id} has no result`);
});

for (const c of cases) {
  test(`helm strvals case ${c.id} (${c.source}): ${c.lines.join(' | ')}`, () => {
    const forceString = c.fn === 'ParseString' || c.fn === 'ParseIntoString';
    const dest: HelmValues = structuredClone(c.initial ?? {});
    let error: unknown;
    try {
      for (const line of c.lines) parseSetInto(line, dest, { forceString });
    } catch (err) {
      error = err;
    }
    const real = results.get(c.id) as Result;
    assert.equal(real.rejected, c.err, `the corpus disagrees with itself on case ${c.id}`);
    if (c.err) {
      assert.ok(error instanceof StrvalsError, `Helm rejects case ${c.id}; we accepted it: ${JSON.stringify(dest)}`);
      // The helm CLI prints "failed parsing --set data: " (or --set-string) before strvals' message.
      const helmMessage = (real.error as string).replace(/^failed parsing --set(-string)? data: /, '');
      const panic = GO_PANIC.exec(helmMessage);
      if (panic) {
        // Helm recovers a Go type-assertion panic here; we say the same in words (test/unit/helm-values.test.ts).
        const [, have, want] = panic as unknown as [string, string, string];
        assert.match(error.message, new RegExp(`^unable to parse key: (".*"|index \\d+) is ${GO_TYPES[have]}, not ${GO_TYPES[want]}$`));
      } else {
        assert.equal(error.message, helmMessage);
      }
      return;
    }
    assert.equal(error, undefined, `Helm accepts case ${c.id}; we rejected it: ${String(error)}`);
    assert.deepEqual(dest, c.expect);
    assert.deepEqual(JSON.parse(JSON.stringify(dest)), real.values);
  });
}
