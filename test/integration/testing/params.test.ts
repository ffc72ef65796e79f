import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FRONT_ENDS, startFrontEnd, type PveHttp, type SimulatorHandle } from './pve-http.js';

describe.each(FRONT_ENDS)('PVE simulator parameter verification, PVE texts (%s)', (frontEnd) => {
  let h91: SimulatorHandle;
  let h84: SimulatorHandle;
  let api: PveHttp;
  let api84: PveHttp;
  beforeAll(async () => {
    h91 = await startFrontEnd(frontEnd, { taskDurationsMs: { default: 5 } });
    api = h91.http;
    h84 = await startFrontEnd(frontEnd, { version: '8.4', taskDurationsMs: { default: 5 } });
    api84 = h84.http;
  });
  afterAll(async () => {
    await h91.close();
    await h84.close();
  });

  const create = (params: Record<string, string | number>, which: PveHttp = api) =>
    which.call('POST', '/nodes/pve1/lxc', { vmid: 200, ostemplate: 'local:vztmpl/t.tar.zst', ...params });

  it('answers 400 "Parameter verification failed." with per-parameter errors', async () => {
    const reply = await create({ memory: 8, cores: 9000, swap: 'lots', arch: 'sparc', unprivileged: 'true', bogus: 1, tty: 7 });
    expect([reply.status, reply.statusText]).toEqual([400, 'Parameter verification failed.']);
    expect(reply.body.message).toBe('Parameter verification failed.\n');
    expect(reply.body.data).toBeNull();
    expect(reply.body.errors).toEqual({
      memory: 'value must have a minimum value of 16',
      cores: 'value must have a maximum value of 8192',
      swap: "type check ('integer') failed - got 'lots'",
      arch: "value 'sparc' does not have a value in the enumeration 'amd64, i386, arm64, armhf, riscv32, riscv64'",
      unprivileged: "type check ('boolean') failed - got 'true'",
      bogus: 'property is not defined in schema and the schema does not allow additional properties',
      tty: 'value must have a maximum value of 6',
    });
  });

  it('reports missing required parameters, bad path parameters and formats', async () => {
    const missing = await api.call('POST', '/nodes/pve1/lxc', { vmid: 200 });
    expect(missing.body.errors).toEqual({ ostemplate: 'property is missing and it is not optional' });
    const vmid = await api.call('GET', '/nodes/pve1/lxc/99/config');
    // format (pve-vmid) is checked before the range, as pve-common does
    expect(vmid.body.errors).toEqual({ vmid: 'invalid format - value does not look like a valid VM ID\n' });
    const nextid = await api.call('GET', '/cluster/resources', { type: 'lxc' });
    expect(nextid.body.errors).toEqual({ type: "value 'lxc' does not have a value in the enumeration 'vm, storage, node, sdn'" });
    const logLimit = await api.call('GET', '/nodes/pve1/tasks/x/log', { limit: -1 });
    expect(logLimit.body.errors).toEqual({ limit: 'value must have a minimum value of 0' });
    const vmidType = await api.call('GET', '/nodes/pve1/lxc/abc/status/current');
    expect(vmidType.body.errors).toEqual({ vmid: "type check ('integer') failed - got 'abc'" });
    const nodeName = await api.call('GET', '/nodes/bad_node/lxc');
    expect(nodeName.body.errors).toEqual({ node: 'invalid format - value does not look like a valid node name\n' });
    const formats = await create({ hostname: 'not_a_host', password: 'abc', description: 'x'.repeat(8193), startup: 'order=x' });
    expect(formats.body.errors).toEqual({
      hostname: 'invalid format - value does not look like a valid DNS name\n',
      password: 'value must be at least 5 characters long',
      description: 'value may only be 8192 characters long',
      startup: 'invalid format - unable to parse startup options\n',
    });
  });

  it('parses property strings with their sub-keys and reports sub-key errors', async () => {
    const reply = await create({
      net0: 'name=eth0,ip=10.0.0.5,bridge=vmbr0',
      net1: 'bridge=vmbr0',
      net2: 'name=eth2,tag=5000,firewall=maybe',
      net32: 'name=eth32',
      rootfs: 'local-lvm:8,mountoptions=noatime;bogus',
      features: 'nesting=1,color=blue',
      mp0: 'local-lvm:1',
    });
    expect(reply.status).toBe(400);
    expect(reply.body.errors).toEqual({
      net0: 'invalid format - format error\nnet0.ip: invalid format - value does not look like a valid ipv4 network configuration\n\n',
      net1: 'invalid format - format error\nnet1.name: property is missing and it is not optional\n',
      net2: 'invalid format - format error\nnet2.firewall: type check (\'boolean\') failed - got \'maybe\'\nnet2.tag: value must have a maximum value of 4094\n',
      net32: 'property is not defined in schema and the schema does not allow additional properties',
      rootfs: 'invalid format - format error\nrootfs.mountoptions: value does not match the regex pattern\n',
      features: 'invalid format - invalid key in comma-separated list property: color\n',
      mp0: 'invalid format - format error\nmp0.mp: property is missing and it is not optional\n',
    });
  });

  it('checks dev[n], features.mount and startup the PVE way', async () => {
    const reply = await create({ dev0: '/dev/fuse,mode=777,gid=-1,deny-write=2', dev1: 'path=/tmp/x', features: 'mount=nfs;cifs!', startup: 'order=1,up=x' });
    expect(reply.body.errors).toEqual({
      dev0: 'invalid format - format error\ndev0.deny-write: type check (\'boolean\') failed - got \'2\'\ndev0.gid: value must have a minimum value of 0\ndev0.mode: value does not match the regex pattern\n',
      dev1: 'invalid format - format error\ndev1.path: invalid format - /tmp/x is not a valid device path\n\n',
      features: 'invalid format - format error\nfeatures.mount: value does not match the regex pattern\n',
      startup: 'invalid format - unable to parse startup options\n',
    });
  });

  it('accepts property-string booleans in any PVE spelling, but top-level booleans only as 0/1 in forms', async () => {
    const ok = await create({ net0: 'name=eth0,ip=dhcp,firewall=yes,ip6=auto', features: 'nesting=on', rootfs: 'local-lvm:2', onboot: 1 });
    expect(ok.status).toBe(200);
    const json = await api.call(
      'POST',
      '/nodes/pve1/lxc',
      { vmid: 201, ostemplate: 'local:vztmpl/t.tar.zst', rootfs: 'local-lvm:2', onboot: true as unknown as number, cores: 2 },
      undefined,
      { json: true },
    );
    expect(json.status).toBe(200);
  });

  it("splits form bodies on '&' and ';' and keeps values up to a second '='", async () => {
    const reply = await api.call('POST', '/nodes/pve1/lxc', {}, undefined, {
      rawBody: 'vmid=202;ostemplate=local%3Avztmpl%2Ft.tar.zst&rootfs=local-lvm%3A1;memory=64;description=a=b',
    });
    expect(reply.status).toBe(200);
    await api.waitTask(reply.body.data as string);
    const entry = api.state.requestLog.find((e) => e.upid === reply.body.data);
    expect(entry?.params).toMatchObject({ vmid: '202', memory: '64', description: 'a' });
  });

  it('applies the "requires" rule and path/body conflicts', async () => {
    const conflict = await api.call('PUT', '/nodes/pve1/lxc/300/config', { vmid: 301, memory: 64 });
    expect([conflict.status, conflict.statusText]).toEqual([400, 'Parameter verification failed.']);
    expect(conflict.body.errors).toEqual({ vmid: 'duplicate parameter (already defined in URI) with conflicting values!' });
    const ticketPrivs = await api.call('POST', '/access/ticket', { username: 'root@pam', password: 'x', privs: 'VM.Audit' }, { none: true });
    expect(ticketPrivs.body.errors).toEqual({ path: "missing property - 'privs' requires this property" });
  });

  it('answers malformed or non-object JSON bodies as pveproxy does (501, JSON::XS text)', async () => {
    const bad = await api.call('POST', '/nodes/pve1/lxc', {}, undefined, { rawBody: 'garbage body', contentType: 'application/json' });
    expect([bad.status, bad.statusText]).toEqual([501, 'malformed JSON string, neither tag, array, object, number, string or atom, at character offset 0 (before "garbage body")']);
    expect(bad.body.message).toBe(`${bad.statusText}\n`);
    const cut = await api.call('POST', '/nodes/pve1/lxc', {}, undefined, { rawBody: '{"vmid": 1', contentType: 'application/json' });
    expect([cut.status, cut.statusText]).toEqual([501, expect.stringMatching(/ at character offset \d+ \(before "/) as string]);
    const array = await api.call('POST', '/nodes/pve1/lxc', {}, undefined, { rawBody: '[1,2]', contentType: 'application/json' });
    expect([array.status, array.statusText]).toEqual([501, 'Not a HASH reference']);
    const good = await api.call('POST', '/nodes/pve1/lxc', {}, undefined, { rawBody: '{"vmid": 1}', contentType: 'application/json' });
    expect(good.status).toBe(400); // parsed, then verified
  });

  it('knows the 9.1-only parameters only in 9.1 mode', async () => {
    const in84 = await create({ entrypoint: '/bin/sh', net0: 'name=eth0,host-managed=1', 'ha-managed': 0 }, api84);
    expect(in84.body.errors).toEqual({
      entrypoint: 'property is not defined in schema and the schema does not allow additional properties',
      'ha-managed': 'property is not defined in schema and the schema does not allow additional properties',
      net0: 'invalid format - invalid key in comma-separated list property: host-managed\n',
    });
    const in91 = await create({ vmid: 203, entrypoint: '/bin/sh', env: 'A=1\0B=two', net0: 'name=eth0,host-managed=1', rootfs: 'local-lvm:1' });
    expect(in91.status).toBe(200);
    const badEnv = await create({ env: 'A=1\u0001' });
    expect(badEnv.body.errors).toEqual({ env: 'value does not match the regex pattern' });
  });

  it('answers pveproxy transport errors: body too large, unexpected content types, cookie in Authorization', async () => {
    const big = await api.call('PUT', '/nodes/pve1/lxc/100/config', {}, undefined, { rawBody: `description=${'x'.repeat(600 * 1024)}` });
    expect([big.status, big.statusText]).toEqual([501, 'for data too large']);
    const xml = await api.call('POST', '/nodes/pve1/lxc', {}, undefined, { rawBody: '<vmid>1</vmid>', contentType: 'application/xml' });
    expect([xml.status, xml.statusText]).toEqual([506, "upload 'Content-Type 'application/xml' not implemented"]);
    const { ticket } = await api.login();
    const viaHeader = await api.call('GET', '/nodes', {}, { token: `PVEAuthCookie=${encodeURIComponent(ticket)}` });
    expect(viaHeader.status).toBe(200);
    expect(api.state.requestLog.at(-1)?.auth).toEqual({ kind: 'ticket', userid: 'root@pam' });
  });

  it("answers 501 for a body on a DELETE, as pveproxy does for any method but POST and PUT", async () => {
    const reply = await api.call('DELETE', '/nodes/pve1/lxc/100', {}, undefined, { rawBody: 'purge=1&force=1' });
    expect([reply.status, reply.statusText]).toEqual([501, "Unexpected content for method 'DELETE'"]);
  });

  it('answers 501 for unknown methods and paths', async () => {
    const reply = await api.call('POST', '/nodes/pve1/lxc/100/status/current');
    expect([reply.status, reply.statusText]).toEqual([501, "Method 'POST /nodes/pve1/lxc/100/status/current' not implemented"]);
  });
});
