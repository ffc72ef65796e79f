/**
 * `WWW-Authenticate` challenges (RFC 7235) as registries send them:
 * `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"`
 * or `Basic realm="Registry Realm"`; several challenges may share one header.
 *
 * @module
 */

/** One challenge: the scheme (lower-case) and its parameters (names lower-case). */
export interface AuthChallenge {
  /** `bearer`, `basic`, ... */
  scheme: string;
  /** `realm`, `service`, `scope`, `error`, ... */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/**
 * Parses a `WWW-Authenticate` header value into its challenges. Malformed parts are skipped,
 * never thrown on: a registry's header is data, not something to fail a pull over.
 */
export function parseAuthChallenges(header: string | undefined): AuthChallenge[] {
  if (!header) return [];
  const out: AuthChallenge[] = [];
  let rest = header.slice(0, 16_384);
  let current: AuthChallenge | undefined;
  while (rest.length > 0) {
    rest = rest.replace(/^[\s,]+/, '');
    const word = TOKEN.exec(rest)?.[0];
    if (word === undefined) break;
    const after = rest.slice(word.length);
    const param = /^\s*=\s*/.exec(after);
    if (param && current !== undefined) {
      // name=value (a token or a quoted string)
      let value: string;
      let remaining = after.slice(param[0].length);
      if (remaining.startsWith('"')) {
        let i = 1;
        value = '';
        while (i < remaining.length && remaining[i] !== '"') {
          if (remaining[i] === '\\' && i + 1 < remaining.length) i += 1;
          value += remaining[i];
          i += 1;
        }
        remaining = remaining.slice(i + 1);
      } else {
        value = /^[^\s,]*/.exec(remaining)?.[0] ?? '';
        remaining = remaining.slice(value.length);
      }
      current.params[word.toLowerCase()] = value;
      rest = remaining;
    } else {
      current = { scheme: word.toLowerCase(), params: {} };
      out.push(current);
      rest = after;
    }
  }
  return out;
}
