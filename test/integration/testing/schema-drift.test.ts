/**
 * Drift test: the simulator's hand-written parameter rules against the official PVE API schema.
 * For every endpoint the simulator serves, every parameter the schema defines must be known to the
 * simulator with the same type, optionality, enum, range, length, pattern, format (including the
 * sub-keys of property strings) and `requires`, and the simulator must know no parameter the
 * schema lacks.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENDPOINT_RULES, ruleInVersion, type ParamRule, type PveVersion } from '../../../src/testing/index.js';
import { referencePath } from '../../helpers/requirements.js';

interface SchemaNode {
  path: string;
  info?: Record<string, { parameters?: { properties?: Record<string, Record<string, unknown>> }; allowtoken?: number }>;
  children?: SchemaNode[];
}

function indexSchema(file: string): Map<string, NonNullable<SchemaNode['info']>[string]> {
  const index = new Map<string, NonNullable<SchemaNode['info']>[string]>();
  const walk = (node: SchemaNode): void => {
    for (const [method, info] of Object.entries(node.info ?? {})) index.set(`${method} ${node.path}`, info);
    for (const child of node.children ?? []) walk(child);
  };
  for (const node of JSON.parse(readFileSync(file, 'utf8')) as SchemaNode[]) walk(node);
  return index;
}

const num = (v: unknown): number | undefined => (v === undefined ? undefined : Number(v));

/** The comparable shape of a schema property. */
function fromSchema(prop: Record<string, unknown>): Record<string, unknown> {
  const format = prop['format'];
  return clean({
    type: prop['type'],
    optional: prop['optional'] === 1 || prop['optional'] === true,
    enum: prop['enum'] ?? undefined,
    minimum: num(prop['minimum']),
    maximum: num(prop['maximum']),
    minLength: num(prop['minLength']),
    maxLength: num(prop['maxLength']),
    pattern: prop['pattern'],
    requires: prop['requires'],
    defaultKey: prop['default_key'] === 1 || prop['default_key'] === true || undefined,
    format:
      typeof format === 'object' && format !== null
        ? Object.fromEntries(Object.entries(format as Record<string, Record<string, unknown>>).map(([k, v]) => [k, fromSchema(v)]))
        : format,
  });
}

/** The comparable shape of a simulator rule in one PVE version. */
function fromRule(rule: ParamRule, version: PveVersion): Record<string, unknown> {
  return clean({
    type: rule.type,
    optional: rule.optional === true,
    enum: rule.enumIn?.[version] ?? rule.enum,
    minimum: rule.minimum,
    maximum: rule.maximum,
    minLength: rule.minLength,
    maxLength: rule.maxLength,
    pattern: rule.pattern,
    requires: rule.requires,
    defaultKey: rule.defaultKey || undefined,
    format:
      typeof rule.format === 'object'
        ? Object.fromEntries(Object.entries(rule.format).filter(([, r]) => ruleInVersion(r, version)).map(([k, r]) => [k, fromRule(r, version)]))
        : rule.format,
  });
}

function clean(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}

const schemas: { name: string; envVar: string; version: PveVersion }[] = [
  { name: '9.1.3', envVar: 'PVE_API_SCHEMA', version: '9.1' },
  { name: '8.4', envVar: 'PVE_API_SCHEMA_84', version: '8.4' },
];

for (const { name, envVar, version } of schemas) {
  const ref = referencePath(envVar);
  describe.skipIf(ref.skip !== undefined)(`simulator parameter rules vs the official PVE ${name} schema`, () => {
    const index: Map<string, NonNullable<SchemaNode['info']>[string]> = ref.path ? indexSchema(ref.path) : new Map();

    it('serves only endpoints the schema has, with the same token rule', () => {
      for (const rules of ENDPOINT_RULES.filter((r) => r.since === undefined || r.since === version || version === '9.1')) {
        const info = index.get(`${rules.method} ${rules.path}`);
        expect(info, `${rules.method} ${rules.path}`).toBeDefined();
        expect(info?.allowtoken === 0 ? false : true, `${rules.method} ${rules.path} allowtoken`).toBe(rules.allowToken);
      }
    });

    it('PVE 9.1-only endpoints are absent from older schemas', () => {
      for (const rules of ENDPOINT_RULES.filter((r) => r.since === '9.1')) expect(version === '9.1' || !index.has(`${rules.method} ${rules.path}`), rules.path).toBe(true);
    });
    for (const rules of ENDPOINT_RULES.filter((r) => r.since === undefined || version === '9.1')) {
      it(`${rules.method} ${rules.path}: every parameter matches`, () => {
        const properties = index.get(`${rules.method} ${rules.path}`)?.parameters?.properties ?? {};
        const known = Object.fromEntries(Object.entries(rules.params).filter(([, r]) => ruleInVersion(r, version)));
        expect(Object.keys(known).sort(), 'parameter names').toEqual(Object.keys(properties).sort());
        for (const [param, prop] of Object.entries(properties)) {
          const rule = known[param];
          expect(rule, `${param} is known`).toBeDefined();
          if (rule) expect(fromRule(rule, version), `${rules.method} ${rules.path} ${param}`).toEqual(fromSchema(prop));
        }
      });
    }
  });
}
