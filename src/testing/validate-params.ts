/**
 * PVE's parameter verification, re-implemented: the checks run in the order pve-common's
 * `check_prop` runs them (missing, type, format, pattern, length, range, enum), every error is
 * collected under its parameter name (and `param.subkey` for property strings), and the texts are
 * PVE's, so `400 Parameter verification failed.` answers match a real node's.
 *
 * @module
 */
import { FORMATS } from './param-formats.js';
import { ruleInVersion, type ParamRule, type PropertyStringFormat, type PveVersion } from './param-rules.js';

/** A parameter value as it arrives: form values are strings; JSON bodies may carry numbers and booleans. */
export type RawParamValue = string | number | boolean | null | undefined | readonly unknown[] | Record<string, unknown>;

/** The typed parameter values after verification: integers and numbers as numbers, booleans as 0/1. */
export type ParamValues = Record<string, string | number>;

/** The outcome of {@link validateParams}. */
export interface ParamValidation {
  /** The verified values (only set when `errors` is empty). */
  values: ParamValues;
  /** PVE's per-parameter errors: `{ vmid: "value must have a minimum value of 100" }`. */
  errors: Record<string, string>;
}

const regexCache = new Map<string, RegExp>();

/** Compiles a PVE (Perl) pattern for a whole-value match. */
function compilePvePattern(pattern: string): RegExp {
  let re = regexCache.get(pattern);
  if (!re) {
    re = new RegExp(`^(?:${pattern.replaceAll('(?^:', '(?:')})$`, 's');
    regexCache.set(pattern, re);
  }
  return re;
}

function addError(errors: Record<string, string>, path: string, message: string): void {
  const key = path === '' ? '_root' : path;
  errors[key] = errors[key] === undefined ? message : `${errors[key]}\\n${message}`;
}

const IS_NUMBER = /^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$/;
const IS_INTEGER = /^[+-]?\d+$/;

/** Perl's `parse_boolean` as property strings use it. */
function parseBoolean(value: string): string | undefined {
  if (/^(1|on|yes|true)$/i.test(value)) return '1';
  if (/^(0|off|no|false)$/i.test(value)) return '0';
  return undefined;
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'ARRAY';
  if (typeof value === 'boolean') return 'JSON::PP::Boolean';
  return 'HASH';
}

/**
 * Checks one value against its rule; returns the typed value, or `undefined` after adding errors.
 * `value` is never undefined here.
 */
function checkProp(
  value: unknown,
  rule: ParamRule,
  path: string,
  errors: Record<string, string>,
  version: PveVersion,
): string | number | undefined {
  let text: string;
  if (typeof value === 'boolean') {
    if (rule.type !== 'boolean') {
      addError(errors, path, `type check ('${rule.type}') failed - got ${typeName(value)}`);
      return undefined;
    }
    return value ? 1 : 0;
  }
  if (typeof value === 'number') text = String(value);
  else if (typeof value === 'string') text = value;
  else {
    addError(errors, path, `type check ('${rule.type}') failed - got ${typeName(value)}`);
    return undefined;
  }
  if (rule.type === 'boolean' && text !== '1' && text !== '0') {
    addError(errors, path, `type check ('boolean') failed - got '${text}'`);
    return undefined;
  }
  if (rule.type === 'integer' && !IS_INTEGER.test(text)) {
    addError(errors, path, `type check ('integer') failed - got '${text}'`);
    return undefined;
  }
  if (rule.type === 'number' && !IS_NUMBER.test(text)) {
    addError(errors, path, `type check ('number') failed - got '${text}'`);
    return undefined;
  }
  if (rule.format !== undefined) {
    const failure =
      typeof rule.format === 'string' ? checkNamedFormat(rule.format, text) : checkPropertyString(rule.format, text, path, version);
    if (failure !== undefined) {
      addError(errors, path, `invalid format - ${failure}`);
      return undefined;
    }
  }
  if (rule.pattern !== undefined && !compilePvePattern(rule.pattern).test(text)) {
    addError(errors, path, 'value does not match the regex pattern');
    return undefined;
  }
  const length = [...text].length;
  if (rule.maxLength !== undefined && length > rule.maxLength) {
    addError(errors, path, `value may only be ${rule.maxLength} characters long`);
    return undefined;
  }
  if (rule.minLength !== undefined && length < rule.minLength) {
    addError(errors, path, `value must be at least ${rule.minLength} characters long`);
    return undefined;
  }
  if (IS_NUMBER.test(text)) {
    const n = Number(text);
    if (rule.maximum !== undefined && n > rule.maximum) {
      addError(errors, path, `value must have a maximum value of ${rule.maximum}`);
      return undefined;
    }
    if (rule.minimum !== undefined && n < rule.minimum) {
      addError(errors, path, `value must have a minimum value of ${rule.minimum}`);
      return undefined;
    }
  }
  const enumValues = rule.enumIn?.[version] ?? rule.enum;
  if (enumValues !== undefined && !enumValues.includes(text)) {
    addError(errors, path, `value '${text}' does not have a value in the enumeration '${enumValues.join(', ')}'`);
    return undefined;
  }
  if (rule.type === 'integer' || rule.type === 'number' || rule.type === 'boolean') return Number(text);
  return text;
}

function checkNamedFormat(format: string, value: string): string | undefined {
  const check = FORMATS[format];
  if (!check) return `undefined format '${format}'\n`;
  return check(value);
}

/**
 * Parses a property string against its sub-key rules. Returns the error text for `path` itself:
 * a parse error, or `format error\n` followed by one `path.key: message\n` line per sub-key
 * error (pve-common's `check_prop` folds the sub-keys' errors into the parameter's own key
 * through `PVE::Exception::stringify`), or `undefined` when the value verifies.
 */
function checkPropertyString(format: PropertyStringFormat, data: string, path: string, version: PveVersion): string | undefined {
  const parsed = splitPropertyString(format, data, version);
  if (typeof parsed === 'string') return parsed;
  const sub: Record<string, string> = {};
  checkObject(path, activeRules(format, version), parsed, sub, version);
  if (Object.keys(sub).length === 0) return undefined;
  return `format error\n${Object.keys(sub)
    .sort()
    .map((key) => `${key}: ${sub[key] ?? ''}\n`)
    .join('')}`;
}

function activeRules(rules: Readonly<Record<string, ParamRule>>, version: PveVersion): Record<string, ParamRule> {
  const out: Record<string, ParamRule> = {};
  for (const [key, rule] of Object.entries(rules)) if (ruleInVersion(rule, version)) out[key] = rule;
  return out;
}

/**
 * Splits a property string into its keys the way pve-common does. Returns the raw key → value map,
 * or PVE's parse error text (ending in a newline).
 */
export function splitPropertyString(
  format: PropertyStringFormat,
  data: string,
  version: PveVersion = '9.1',
): Record<string, string> | string {
  const rules = activeRules(format, version);
  const result: Record<string, string> = {};
  let defaultKey: string | undefined;
  for (const part of data.split(',')) {
    if (/^\s*$/.test(part)) continue;
    const kv = /^([^=]+)=(.+)$/s.exec(part);
    if (kv) {
      const key = kv[1] ?? '';
      let value = kv[2] ?? '';
      if (result[key] !== undefined) return `duplicate key in comma-separated list property: ${key}\n`;
      const rule = rules[key];
      if (!rule) return `invalid key in comma-separated list property: ${key}\n`;
      if (rule.type === 'boolean') value = parseBoolean(value) ?? value;
      result[key] = value;
    } else if (!part.includes('=')) {
      if (defaultKey !== undefined) return `duplicate key in comma-separated list property: ${defaultKey}\n`;
      const key = Object.keys(rules).find((k) => rules[k]?.defaultKey === true);
      if (key === undefined) return 'value without key, but schema does not define a default key\n';
      defaultKey = key;
      if (result[key]) return `duplicate key in comma-separated list property: ${key}\n`;
      result[key] = part;
    } else {
      return 'missing key in comma-separated list property\n';
    }
  }
  return result;
}

/** The rule for a concrete parameter name, resolving indexed names (`net3` → `net[n]`). */
export function findRule(rules: Readonly<Record<string, ParamRule>>, name: string): ParamRule | undefined {
  const direct = rules[name];
  if (direct && direct.indexed === undefined) return direct;
  const match = /^([a-z]+)(\d+)$/.exec(name);
  if (!match) return undefined;
  const rule = rules[`${match[1]}[n]`];
  const index = Number(match[2]);
  if (!rule || rule.indexed === undefined || String(index) !== match[2] || index >= rule.indexed) return undefined;
  return rule;
}

function checkObject(
  path: string,
  rules: Readonly<Record<string, ParamRule>>,
  values: Readonly<Record<string, unknown>>,
  errors: Record<string, string>,
  version: PveVersion,
  out?: ParamValues,
): void {
  const join = (key: string): string => (path ? `${path}.${key}` : key);
  for (const [key, rule] of Object.entries(rules)) {
    if (rule.indexed !== undefined) continue;
    const value = values[key];
    if (value === undefined || value === null) {
      if (!rule.optional) addError(errors, join(key), 'property is missing and it is not optional');
      continue;
    }
    const typed = checkProp(value, rule, join(key), errors, version);
    if (out && typed !== undefined) out[key] = typed;
  }
  for (const [key, value] of Object.entries(values)) {
    const rule = findRule(rules, key);
    if (rule) {
      if (rule.indexed !== undefined && value !== undefined && value !== null) {
        const typed = checkProp(value, rule, join(key), errors, version);
        if (out && typed !== undefined) out[key] = typed;
      }
      if (rule.requires !== undefined && (values[rule.requires] === undefined || values[rule.requires] === null)) {
        addError(errors, join(rule.requires), `missing property - '${join(key)}' requires this property`);
      }
      continue;
    }
    addError(errors, join(key), 'property is not defined in schema and the schema does not allow additional properties');
  }
}

/**
 * Verifies request parameters (path parameters included) against an endpoint's rules for a PVE
 * release. Rules newer than `version` do not exist there: such parameters are unknown.
 */
export function validateParams(
  rules: Readonly<Record<string, ParamRule>>,
  params: Readonly<Record<string, RawParamValue>>,
  version: PveVersion,
): ParamValidation {
  const errors: Record<string, string> = {};
  const values: ParamValues = {};
  checkObject('', activeRules(rules, version), params, errors, version, values);
  return { values, errors };
}

/**
 * Parses and verifies a property string value (e.g. a `net0` value) into typed sub-key values.
 * Returns `undefined` when it does not verify. Used by handlers on already-verified parameters.
 */
export function readPropertyString(format: PropertyStringFormat, data: string, version: PveVersion = '9.1'): ParamValues | undefined {
  const parsed = splitPropertyString(format, data, version);
  if (typeof parsed === 'string') return undefined;
  const errors: Record<string, string> = {};
  const out: ParamValues = {};
  checkObject('', activeRules(format, version), parsed, errors, version, out);
  return Object.keys(errors).length === 0 ? out : undefined;
}
