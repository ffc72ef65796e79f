import { unpackImage } from '../../oci/layers/unpack-image.js';
import { resolveImageArg } from '../image-arg.js';
import type { CliCommand } from '../types.js';
import { parseCommandArgs, printJson, UsageError } from '../util.js';
import { resolve } from 'node:path';

const usage = `Usage: lxcri unpack --image DIR[:REF] OUT [--rootless] [--platform OS/ARCH[/VARIANT]]

Unpacks an image from an OCI image layout into OUT/rootfs: the same tree 'umoci unpack' writes
(layers applied in order, whiteouts, owners, modes, xattrs), with every path kept inside OUT.
OUT is created with mode 0700; OUT/rootfs must not exist.

Options:
  --image DIR[:REF]   the image layout and the reference in it (a ref name, a name such as
                      busybox, a manifest digest or an image id); without REF the layout must
                      hold one image
  --rootless          do not chown: keep owners in the user.rootlesscontainers xattr, turn
                      device nodes into empty files (default when not root)
  --platform P        platform to pick from an index (default linux/amd64)

Prints a JSON summary: { rootfs, reference, manifestDigest, layers, entries, bytes }.`;

/** `lxcri unpack`: OCI image layout → OUT/rootfs. */
export const unpackCommand: CliCommand = {
  name: 'unpack',
  summary: 'unpack an OCI image layout into OUT/rootfs (like umoci unpack)',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      image: { type: 'string' },
      rootless: { type: 'boolean' },
      platform: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('exactly one OUT directory is required');
    const resolved = await resolveImageArg(io, values['image'], values['platform']);
    const rootless = values['rootless'] === true ? true : undefined;
    const result = await unpackImage(resolved, resolve(io.cwd, positionals[0] as string), {
      ...(rootless === undefined ? {} : { rootless }),
      ...(io.signal ? { signal: io.signal } : {}),
    });
    printJson(io, { rootfs: result.rootfs, reference: resolved.reference, manifestDigest: resolved.manifestDigest, layers: result.layers, entries: result.entries, bytes: result.bytes });
    return 0;
  },
};
