/**
 * schemas/apply.schema.json (for editors and CI linters) and the valibot schema the command uses must
 * describe the same file: every example in test/fixtures/apply is validated by both, and they must agree.
 * The JSON Schema is checked by a small validator of the keywords the schema uses; an unknown keyword
 * fails the test, so the schema cannot grow a rule this check silently ignores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as v from 'valibot';
import yaml from 'js-yaml';
import { applyFileSchema, parseApplyFile } from '../../src/lifecycle/apply-file.js';
import { UsageError } from '../../src/errors.js';
import { ROOT } from '../support/cli.js';

type Schema = Record<string, unknown>;
const schemaFile = path.join(ROOT, 'schemas', 'apply.schema.json');
const jsonSchema = JSON.parse(readFileSync(schemaFile, 'utf8')) as Schema;
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'apply');

const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', '$defs']);

function typeOf(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'array';
  if (typeof x === 'number') return Number.isInteger(x) ? 'integer' : 'number';
  return typeof x;
}

/** Errors of `data` against `schema` (draft 2020-12 subset), as "path: keyword" lines. */
function jsonSchemaErrors(schema: Schema, data: unknown, at = '$'): string[] {
  const errors: string[] = [];
  for (const [keyword, rule] of Object.entries(schema)) {
    if (ANNOTATIONS.has(keyword)) continue;
    switch (keyword) {
      case '$ref': {
        const name = /^#\/\$defs\/(.+)$/.exec(rule as string)?.[1];
        const target = name ? ((jsonSchema.$defs as Record<string, Schema>)[name] as Schema | undefined) : undefined;
        assert.ok(target, `unresolvable $ref ${String(rule)}`);
        errors.push(...jsonSchemaErrors(target, data, at));
        break;
      }
      case 'type': {
        const types = Array.isArray(rule) ? (rule as string[]) : [rule as string];
        const t = typeOf(data);
        if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) errors.push(`${at}: type`);
        break;
      }
      case 'required':
        if (typeOf(data) === 'object') for (const key of rule as string[]) if (!(key in (data as object))) errors.push(`${at}.${key}: required`);
        break;
      case 'properties':
        if (typeOf(data) === 'object') {
          for (const [key, sub] of Object.entries(rule as Record<string, Schema>)) {
            if (key in (data as object)) errors.push(...jsonSchemaErrors(sub, (data as Record<string, unknown>)[key], `${at}.${key}`));
          }
        }
        break;
      case 'additionalProperties':
        if (typeOf(data) === 'object') {
          const known = Object.keys((schema.properties as object | undefined) ?? {});
          for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
            if (known.includes(key)) continue;
            if (rule === false) errors.push(`${at}.${key}: additionalProperties`);
            else if (typeof rule === 'object') errors.push(...jsonSchemaErrors(rule as Schema, value, `${at}.${key}`));
          }
        }
        break;
      case 'items':
        if (Array.isArray(data)) data.forEach((item, i) => errors.push(...jsonSchemaErrors(rule as Schema, item, `${at}[${i}]`)));
        break;
      case 'not':
        if (jsonSchemaErrors(rule as Schema, data, at).length === 0) errors.push(`${at}: not`);
        break;
      case 'pattern':
        if (typeof data === 'string' && !new RegExp(rule as string, 'u').test(data)) errors.push(`${at}: pattern`);
        break;
      case 'minLength':
        if (typeof data === 'string' && [...data].length < (rule as number)) errors.push(`${at}: minLength`);
        break;
      default:
        assert.fail(`the JSON Schema uses "${keyword}", which this check does not implement: implement it here`);
    }
  }
  return errors;
}

const examples = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml')).sort();

test('the example files are there, valid and invalid ones', () => {
  assert.ok(examples.filter((f) => f.startsWith('valid-')).length >= 4);
  assert.ok(examples.filter((f) => f.startsWith('invalid-')).length >= 10);
  assert.deepEqual(examples.filter((f) => !/^(valid|invalid)-/.test(f)), []);
});

for (const file of examples) {
  test(`JSON Schema and valibot schema agree on ${file}`, () => {
    const data = yaml.load(readFileSync(path.join(FIXTURES, file), 'utf8'), { schema: yaml.CORE_SCHEMA });
    const wantValid = file.startsWith('valid-');
    const json = jsonSchemaErrors(jsonSchema, data);
    const valibot = v.safeParse(applyFileSchema, data);
    assert.equal(json.length === 0, wantValid, `JSON Schema: ${json.join(', ') || 'valid'}`);
    assert.equal(valibot.success, wantValid, `valibot: ${valibot.success ? 'valid' : valibot.issues[0].message}`);
  });
}

// Where each invalid example fails, as the command says it: file, line, field, what to do.
const MESSAGES: Record<string, string> = {
  'invalid-addons-map.yaml': 'invalid-addons-map.yaml:1: addons: must be a list of addons, each a map with a name, such as [{ name: dns }]',
  'invalid-args-and-arguments.yaml': 'invalid-args-and-arguments.yaml:4: addons[0].arguments: give the arguments either by name (args) or in order (arguments), not both',
  'invalid-args-list.yaml': 'invalid-args-list.yaml:3: addons[0].args: must be a map of argument names to values, such as { servers: "1.1.1.1" }',
  'invalid-argument-number.yaml': 'invalid-argument-number.yaml:5: addons[0].arguments[1]: must be a string (quote numbers: "53")',
  'invalid-entry-word.yaml': "invalid-entry-word.yaml:2: addons[0]: must be a map with the addon's name, such as { name: dns }",
  'invalid-missing-name.yaml': 'invalid-missing-name.yaml:3: addons[1].name: is required',
  'invalid-name-case.yaml': 'invalid-name-case.yaml:2: addons[0].name: must be an addon name: lower-case letters, digits and dashes, such as dns',
  'invalid-switch-string.yaml': 'invalid-switch-string.yaml:4: addons[0].args.ui: must be a string, or true or false for a switch',
  'invalid-top-level-field.yaml': 'invalid-top-level-field.yaml:3: prune: is not a known field; the file has only "addons"',
  'invalid-unknown-field.yaml': 'invalid-unknown-field.yaml:3: addons[0].argz: is not a known field; an addon has name, version, args, arguments and values',
  'invalid-version-number.yaml': 'invalid-version-number.yaml:7: addons[1].version: must be a string such as "1.9"',
};

test('every invalid example has its expected message', () => {
  assert.deepEqual(Object.keys(MESSAGES).sort(), examples.filter((f) => f.startsWith('invalid-')));
});

for (const [file, message] of Object.entries(MESSAGES)) {
  test(`${file} fails at its line and field`, () => {
    const text = readFileSync(path.join(FIXTURES, file), 'utf8');
    assert.throws(() => parseApplyFile(text, file), new UsageError(message));
  });
}
