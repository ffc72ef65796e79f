/**
 * Image reference parsing and normalisation (the docker/distribution grammar):
 * `busybox` → `docker.io/library/busybox:latest`, `quay.io/a/b@sha256:…`, `localhost:5000/x:1`.
 *
 * @module
 */
import { ImageError } from '../../errors.js';
import { parseDigest } from './digest.js';

/** A parsed, normalised image reference. */
export interface ImageReference {
  /** The registry host (with port), e.g. `docker.io`. */
  domain: string;
  /** The repository path without the domain, e.g. `library/busybox`. */
  path: string;
  /** `domain/path`, e.g. `docker.io/library/busybox`. */
  name: string;
  /** The tag; `latest` when neither a tag nor a digest was given. */
  tag?: string;
  /** The manifest digest after `@`, if any. */
  digest?: string;
  /** The normalised string: `name[:tag][@digest]`. */
  normalized: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

/** The default registry of short names. */
export const DEFAULT_DOMAIN = 'docker.io';

/** True when `value` is a valid tag (`[\w][\w.-]{0,127}`). */
export function isTag(value: string): boolean {
  return TAG.test(value);
}

/**
 * Parses and normalises an image reference.
 * @param input - e.g. `busybox`, `library/busybox:1.36`, `ghcr.io/o/r@sha256:…`
 * @throws ImageError naming what is wrong
 */
export function parseImageReference(input: string): ImageReference {
  if (typeof input !== 'string' || input.length === 0 || input.length > 4096) {
    throw new ImageError('image reference must be a non-empty string of at most 4096 characters', { reason: 'invalid reference' });
  }
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = parseDigest(rest.slice(at + 1), 'image reference digest').digest;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw new ImageError(`image reference tag '${tag.slice(0, 130)}' is not valid`, { reference: input, reason: 'invalid tag' });
  }
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash !== -1) {
    const first = rest.slice(0, firstSlash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(firstSlash + 1);
      if (!DOMAIN.test(domain)) throw new ImageError(`image reference registry '${domain}' is not valid`, { reference: input, reason: 'invalid domain' });
    }
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  for (const component of path.split('/')) {
    if (!COMPONENT.test(component)) {
      throw new ImageError(`image reference path component '${component.slice(0, 130)}' is not valid (lower-case letters, digits and separators)`, { reference: input, reason: 'invalid name' });
    }
  }
  if (tag === undefined && digest === undefined) tag = 'latest';
  const name = `${domain}/${path}`;
  const normalized = `${name}${tag === undefined ? '' : `:${tag}`}${digest === undefined ? '' : `@${digest}`}`;
  return { domain, path, name, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }), normalized };
}

/** Like {@link parseImageReference} but returns `undefined` instead of throwing. */
export function tryParseImageReference(input: string): ImageReference | undefined {
  try {
    return parseImageReference(input);
  } catch {
    return undefined;
  }
}
