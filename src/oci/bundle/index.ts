/**
 * OCI bundle writer.
 *
 * @module
 */
export { writeBundle, bundlePath, mountsBelow, unpackRootfsProvider, writeBundleOptionsSchema } from './write-bundle.js';
export { shiftOwnership, mapToHost } from './shift-ownership.js';
export type {
  WriteBundleOptions,
  ResolvedWriteBundleOptions,
  BundleSpecOptions,
  OciBundle,
  RootfsProvider,
  ProvidedRootfs,
  RootfsMode,
} from './write-bundle.js';
