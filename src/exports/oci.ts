/**
 * `proxmox-lxcri/oci`: OCI image layouts, references and digests; safe layer extraction and the layer cache; CRI → runtime-spec `config.json`; bundles.
 *
 * @packageDocumentation
 */
export { openImageLayout, ImageLayout, parsePlatform, REF_NAME_ANNOTATION, CONTAINERD_NAME_ANNOTATION } from '../oci/image/layout.js';
export type { ImageLayoutOptions, ResolveImageOptions, ImportImageOptions, ImageLayoutEntry, PlatformSpec } from '../oci/image/layout.js';
export { parseImageReference, tryParseImageReference, isTag, DEFAULT_DOMAIN } from '../oci/image/reference.js';
export type { ImageReference } from '../oci/image/reference.js';
export { parseDigest, isDigest, sha256Digest, computeChainIds } from '../oci/image/digest.js';
export type { ParsedDigest } from '../oci/image/digest.js';
export { MEDIA_TYPES } from '../oci/image/types.js';
export type { OciImageConfig, OciImageRunConfig, OciHistory, OciManifest, OciIndex, OciDescriptor, OciPlatform, LayerCompression } from '../oci/image/types.js';
export { unpackImage } from '../oci/layers/unpack-image.js';
export type { UnpackImageOptions, UnpackImageResult, LayerProgress, ProgressCallback } from '../oci/layers/unpack-image.js';
export type { ExtractionLimits } from '../oci/layers/limits.js';
export { LayerCache } from '../oci/layers/layer-cache.js';
export type { LayerCacheOptions, CreateRootfsOptions, RootfsHandle, LayerCacheGcResult } from '../oci/layers/layer-cache.js';
export { buildRuntimeSpec, DEFAULT_PATH_ENV, CRI_ANNOTATIONS } from '../oci/spec/build.js';
export { detectHostSpecDefaults } from '../oci/spec/collect.js';
export { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, defaultSeccompProfile } from '../oci/spec/defaults.js';
export { readImageUserDb, parsePasswd, parseGroup } from '../oci/spec/user-db.js';
export type { SpecImageConfig } from '../oci/spec/build.js';
export type { BuildRuntimeSpecOptions } from '../oci/spec/options.js';
export type { HostSpecDefaults } from '../oci/spec/collect.js';
export type { OciRuntimeSpec, OciProcess, OciMount, OciLinux, OciSeccomp, OciResources, OciNamespace, OciNamespaceType, OciDevice, OciCapabilities, OciIdMapping } from '../oci/spec/runtime-spec.js';
export type { PasswdEntry, GroupEntry, ImageUserDb } from '../oci/spec/user-db.js';
export { writeBundle, bundlePath, mountsBelow, unpackRootfsProvider } from '../oci/bundle/write-bundle.js';
export type { WriteBundleOptions, BundleSpecOptions, OciBundle, RootfsProvider, ProvidedRootfs, RootfsMode } from '../oci/bundle/write-bundle.js';
export { pullImage, ensureImage, choosePlatformManifest, hostPlatform } from '../oci/registry/pull.js';
export type { PullImageOptions, EnsureImageOptions, PulledImage, PullPolicy, PullProgress } from '../oci/registry/pull.js';
export { listImages, removeImage, gcImages } from '../oci/registry/store.js';
export type { StoredImage, ImageStore, ListImagesOptions, RemoveImageOptions, GcOptions, GcResult } from '../oci/registry/store.js';
export { findCredentials } from '../oci/registry/credentials.js';
export type { RegistryCredentials } from '../oci/registry/credentials.js';
export { RUNTIME_DEFAULT_SECCOMP_RULES, SECCOMP_ALLOWED_SYSCALLS, SECCOMP_CAPABILITY_SYSCALLS, SECCOMP_ARCH_SYSCALLS } from '../oci/spec/seccomp.js';
export type { SeccompProfileRule, SeccompArgCondition } from '../oci/spec/seccomp.js';
export { denyListSeccompProfile } from '../oci/spec/defaults.js';
export { listHostDevices } from '../oci/spec/collect.js';
export type { HostDeviceNode } from '../oci/spec/options.js';
