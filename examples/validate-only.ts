/**
 * Validate a CRI CreateContainerRequest the way containerd and CRI-O would, without creating
 * anything: every issue comes back with its path, code, message and gRPC status.
 *
 *   npx tsx examples/validate-only.ts
 */
import { isLxcriError, validateCreateContainerRequest } from 'proxmox-lxcri';
import { InMemoryContainerStore, InMemorySandboxStore, validatePodSandboxConfig } from 'proxmox-lxcri/cri';

const podConfig = validatePodSandboxConfig({ metadata: { name: 'web', uid: 'u-1', namespace: 'default' }, hostname: 'web' });
const sandboxes = new InMemorySandboxStore([
  { id: 'a'.repeat(64), metadata: podConfig.metadata, config: podConfig, state: 'SANDBOX_READY', runtimeHandler: '', namespacePaths: {}, createdAt: Date.now() },
]);
const context = { sandboxes, containers: new InMemoryContainerStore() };

const good = await validateCreateContainerRequest(
  { pod_sandbox_id: 'a'.repeat(64), config: { metadata: { name: 'app' }, image: { image: 'busybox:1.36' }, command: ['sh', '-c', 'echo hi'] }, sandbox_config: podConfig },
  context,
);
console.log('valid:', good.config.metadata.name, good.config.command);

try {
  await validateCreateContainerRequest(
    { pod_sandbox_id: 'a'.repeat(64), config: { metadata: { name: 'Not_Valid' }, image: { image: '' }, linux: { security_context: { privileged: true } } }, sandbox_config: podConfig },
    context,
  );
} catch (error) {
  if (!isLxcriError(error) || error.code !== 'ERR_CRI_VALIDATION') throw error;
  console.log(`refused (${error.grpcStatus}):`);
  for (const issue of (error as unknown as { issues: { path: string; code: string; message: string }[] }).issues) console.log(`  ${issue.path}: ${issue.code} — ${issue.message}`);
}
