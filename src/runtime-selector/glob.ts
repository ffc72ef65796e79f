/**
 * A small, strict glob matcher for runtime policy rules.
 *
 * Syntax (a subset of the shell's, checked strictly so that a typo is an error, not a rule that
 * silently never matches):
 *
 * | pattern    | matches                                                        |
 * |------------|----------------------------------------------------------------|
 * | `*`        | any run of characters except `/` (also the empty run)          |
 * | `**`       | any run of characters including `/`                            |
 * | `?`        | exactly one character except `/`                               |
 * | `[abc]`    | one of the listed characters; ranges `[a-z0-9]`               |
 * | `[!abc]`   | one character not listed (also `[^abc]`); never `/`            |
 * | `{a,b}`    | either alternative; alternatives may hold any other syntax     |
 * | `\x`       | the character `x` literally                                    |
 *
 * Rejected: an empty pattern, an unclosed `[` or `{`, an unmatched `]` or `}`, an empty class
 * `[]`, a reversed range `[z-a]`, a trailing `\`, more than {@link MAX_GLOB_ALTERNATIVES}
 * expanded alternatives and patterns longer than {@link MAX_GLOB_LENGTH} characters.
 *
 * Matching is an NFA simulation: linear in the subject length times the pattern length, so a
 * hostile pattern or a long annotation value cannot cause catastrophic backtracking.
 *
 * @module
 */

/** The longest accepted glob, in characters. */
const MAX_GLOB_LENGTH = 1024;
/** The most alternatives a glob may expand to through `{a,b}` groups. */
export const MAX_GLOB_ALTERNATIVES = 256;

type Token =
  | { kind: 'lit'; ch: string }
  | { kind: 'any' }
  | { kind: 'star' }
  | { kind: 'globstar' }
  | { kind: 'class'; negated: boolean; ranges: readonly (readonly [number, number])[] };

/** A node of the parsed pattern: a token, or a `{...}` group of alternative sequences. */
type Node = Token | { kind: 'alt'; options: Node[][] };

/** A syntax error in a glob, with the character offset where it was found. */
export class GlobSyntaxError extends Error {
  override name = 'GlobSyntaxError';
  constructor(
    readonly pattern: string,
    readonly offset: number,
    readonly problem: string,
  ) {
    super(`invalid glob ${JSON.stringify(pattern)}: ${problem} at offset ${offset}`);
  }
}

/** A compiled glob. */
export interface GlobMatcher {
  /** The pattern as written. */
  readonly source: string;
  /** True when the whole of `subject` matches the pattern. */
  test(subject: string): boolean;
}

class Parser {
  private pos = 0;
  private readonly chars: string[];
  constructor(private readonly pattern: string) {
    this.chars = Array.from(pattern);
  }

  private fail(problem: string, offset = this.pos): never {
    throw new GlobSyntaxError(this.pattern, offset, problem);
  }

  /** Parses a sequence until end of input, or (inside a group) until `,` or `}`. */
  parseSequence(depth: number): Node[] {
    const out: Node[] = [];
    while (this.pos < this.chars.length) {
      const ch = this.chars[this.pos] as string;
      if (depth > 0 && (ch === ',' || ch === '}')) return out;
      if (ch === '\\') {
        const next = this.chars[this.pos + 1];
        if (next === undefined) this.fail("trailing '\\' escapes nothing");
        out.push({ kind: 'lit', ch: next });
        this.pos += 2;
      } else if (ch === '*') {
        let run = 0;
        while (this.chars[this.pos] === '*') {
          run++;
          this.pos++;
        }
        out.push({ kind: run >= 2 ? 'globstar' : 'star' });
      } else if (ch === '?') {
        out.push({ kind: 'any' });
        this.pos++;
      } else if (ch === '[') {
        out.push(this.parseClass());
      } else if (ch === '{') {
        out.push(this.parseGroup(depth));
      } else if (ch === ']') {
        this.fail("unmatched ']' (escape it as '\\]')");
      } else if (ch === '}') {
        this.fail("unmatched '}' (escape it as '\\}')");
      } else {
        out.push({ kind: 'lit', ch });
        this.pos++;
      }
    }
    return out;
  }

  private parseGroup(depth: number): Node {
    const start = this.pos;
    this.pos++; // '{'
    const options: Node[][] = [];
    for (;;) {
      options.push(this.parseSequence(depth + 1));
      const ch = this.chars[this.pos];
      if (ch === undefined) this.fail("unclosed '{'", start);
      this.pos++;
      if (ch === '}') return { kind: 'alt', options };
      // ch === ','
    }
  }

  private parseClass(): Token {
    const start = this.pos;
    this.pos++; // '['
    let negated = false;
    if (this.chars[this.pos] === '!' || this.chars[this.pos] === '^') {
      negated = true;
      this.pos++;
    }
    const ranges: [number, number][] = [];
    const readChar = (): number => {
      const ch = this.chars[this.pos];
      if (ch === undefined) this.fail("unclosed '['", start);
      if (ch === '\\') {
        const next = this.chars[this.pos + 1];
        if (next === undefined) this.fail("unclosed '['", start);
        this.pos += 2;
        return next.codePointAt(0) as number;
      }
      this.pos++;
      return ch.codePointAt(0) as number;
    };
    for (;;) {
      const ch = this.chars[this.pos];
      if (ch === undefined) this.fail("unclosed '['", start);
      if (ch === ']') {
        if (ranges.length === 0) this.fail("empty character class '[]'", start);
        this.pos++;
        return { kind: 'class', negated, ranges };
      }
      const rangeStart = this.pos;
      const lo = readChar();
      if (this.chars[this.pos] === '-' && this.chars[this.pos + 1] !== undefined && this.chars[this.pos + 1] !== ']') {
        this.pos++; // '-'
        const hi = readChar();
        if (hi < lo) this.fail(`reversed range '${String.fromCodePoint(lo)}-${String.fromCodePoint(hi)}'`, rangeStart);
        ranges.push([lo, hi]);
      } else {
        ranges.push([lo, lo]);
      }
    }
  }
}

function expand(nodes: readonly Node[], pattern: string): Token[][] {
  let results: Token[][] = [[]];
  for (const node of nodes) {
    if (node.kind !== 'alt') {
      for (const r of results) r.push(node);
      continue;
    }
    const alternatives = node.options.flatMap((option) => expand(option, pattern));
    const next: Token[][] = [];
    for (const r of results) {
      for (const alt of alternatives) {
        next.push([...r, ...alt]);
        if (next.length > MAX_GLOB_ALTERNATIVES) {
          throw new GlobSyntaxError(pattern, 0, `expands to more than ${MAX_GLOB_ALTERNATIVES} alternatives`);
        }
      }
    }
    results = next;
  }
  return results;
}

function matchesOne(token: Token, ch: string): boolean {
  switch (token.kind) {
    case 'lit':
      return token.ch === ch;
    case 'any':
      return ch !== '/';
    case 'class': {
      if (token.negated && ch === '/') return false;
      const cp = ch.codePointAt(0) as number;
      const inside = token.ranges.some(([lo, hi]) => cp >= lo && cp <= hi);
      return inside !== token.negated;
    }
    default:
      return false;
  }
}

function matchTokens(tokens: readonly Token[], chars: readonly string[]): boolean {
  const n = tokens.length;
  const add = (set: Uint8Array, start: number): void => {
    let i = start;
    while (i <= n && set[i] === 0) {
      set[i] = 1;
      const t = tokens[i];
      if (t === undefined || (t.kind !== 'star' && t.kind !== 'globstar')) break;
      i++;
    }
  };
  let states = new Uint8Array(n + 1);
  add(states, 0);
  for (const ch of chars) {
    const next = new Uint8Array(n + 1);
    let alive = false;
    for (let i = 0; i < n; i++) {
      if (states[i] === 0) continue;
      const t = tokens[i] as Token;
      if (t.kind === 'globstar' || (t.kind === 'star' && ch !== '/')) {
        add(next, i);
        alive = true;
      } else if (matchesOne(t, ch)) {
        add(next, i + 1);
        alive = true;
      }
    }
    if (!alive) return false;
    states = next;
  }
  return states[n] === 1;
}

/**
 * Compiles a glob. Throws {@link GlobSyntaxError} naming the problem and its offset.
 */
export function compileGlob(pattern: string): GlobMatcher {
  if (pattern.length === 0) throw new GlobSyntaxError(pattern, 0, 'empty pattern');
  if (pattern.length > MAX_GLOB_LENGTH) throw new GlobSyntaxError(pattern, MAX_GLOB_LENGTH, `longer than ${MAX_GLOB_LENGTH} characters`);
  const alternatives = expand(new Parser(pattern).parseSequence(0), pattern);
  return {
    source: pattern,
    test(subject: string): boolean {
      const chars = Array.from(subject);
      return alternatives.some((tokens) => matchTokens(tokens, chars));
    },
  };
}

/** Returns the syntax problem of a glob as text, or `undefined` when it is valid. */
export function checkGlob(pattern: string): string | undefined {
  try {
    compileGlob(pattern);
    return undefined;
  } catch (error) {
    if (error instanceof GlobSyntaxError) return `${error.problem} at offset ${error.offset}`;
    throw error;
  }
}
