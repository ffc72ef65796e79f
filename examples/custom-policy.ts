/**
 * Choose the runtime per container with a policy: images under lxc/ and containers named db-* go
 * to Proxmox VE LXC, the rest to crun. Prints each decision with its trace; creates nothing.
 *
 *   npx tsx examples/custom-policy.ts
 */
import { normalizeCreateContainerRequest } from 'proxmox-lxcri/cri';
import { selectRuntime, type RuntimePolicy } from 'proxmox-lxcri';

const policy: RuntimePolicy = {
  defaultRuntime: 'crun',
  rules: [
    { match: { image: ['lxc/**', '*/lxc/**'] }, runtime: 'proxmox-lxc' },
    { match: { containerName: ['db-*'] }, runtime: 'proxmox-lxc' },
  ],
};
const probes = { crun: { available: true, detail: 'crun 1.8', path: 'crun' }, 'proxmox-lxc': { available: true, detail: 'PVE 9.1', rootPam: false } };
const pod = { metadata: { name: 'shop', uid: 'u', namespace: 'default' } };
for (const [name, image] of [['web', 'nginx:1.27'], ['db-main', 'postgres:16'], ['tools', 'registry.example/lxc/debian:12']]) {
  const request = normalizeCreateContainerRequest({ pod_sandbox_id: 'p', config: { metadata: { name }, image: { image } }, sandbox_config: pod });
  const decision = selectRuntime(request, policy, probes);
  console.log(`${name} (${image}) → ${decision.runtime}: ${decision.reason}`);
  for (const step of decision.trace) console.log(`    ${step.step}: ${step.outcome} — ${step.detail}`);
}
