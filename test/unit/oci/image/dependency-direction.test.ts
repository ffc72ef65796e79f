import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const IMAGE_DIR = join(import.meta.dirname, '../../../../src/oci/image');

describe('oci/image dependencies', () => {
  it('run one way: the image part imports nothing from the layers part (layers may import image)', () => {
    const offenders: string[] = [];
    for (const file of readdirSync(IMAGE_DIR).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(IMAGE_DIR, file), 'utf8');
      for (const m of text.matchAll(/\bfrom\s+'([^']+)'/g)) if (/(^|\/)layers\//.test(m[1] as string)) offenders.push(`${file}: ${m[1]}`);
    }
    expect(offenders).toEqual([]);
  });
});
