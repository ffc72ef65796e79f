import { describe, expect, it } from 'vitest';
import { formatPath } from '../../../src/internal/format-path.js';

describe('formatPath', () => {
  it('writes identifiers dotted, indexes in brackets and other keys quoted', () => {
    expect(formatPath(['config', 'mounts', 0, 'containerPath'])).toBe('config.mounts[0].containerPath');
    expect(formatPath(['config', 'labels', 'app/name'])).toBe('config.labels["app/name"]');
    expect(formatPath([0, 'a'])).toBe('[0].a');
    expect(formatPath([])).toBe('');
  });
});
