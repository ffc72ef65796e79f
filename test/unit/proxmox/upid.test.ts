import { describe, expect, it } from 'vitest';
import { isUpid, parseUpid } from '../../../src/proxmox/upid.js';

describe('parseUpid', () => {
  it('decodes the fields of a user task', () => {
    expect(parseUpid('UPID:pve0:0009E9B0:103F1191:660069E7:vzcreate:101:root@pam:')).toEqual({
      upid: 'UPID:pve0:0009E9B0:103F1191:660069E7:vzcreate:101:root@pam:',
      node: 'pve0',
      pid: 0x9e9b0,
      pstart: 0x103f1191,
      starttime: 0x660069e7,
      type: 'vzcreate',
      id: '101',
      user: 'root@pam',
    });
  });
  it('splits the token id off the user and accepts 9-digit pstart and an empty id', () => {
    const u = parseUpid('UPID:pve-a1:00001ED0:100035693:66343A23:qmshutdown::terraform@pve!provider:');
    expect(u).toMatchObject({ node: 'pve-a1', pstart: 0x100035693, id: '', user: 'terraform@pve', tokenid: 'provider' });
  });
  it('refuses malformed ids with ERR_INVALID_ARGUMENT', () => {
    for (const bad of [
      'UPID:pve0:0009E9B0:103F1191:660069E7:vzcreate:101:root@pam', // no trailing colon
      'UPID:-pve:0009E9B0:103F1191:660069E7:vzcreate:101:root@pam:',
      'UPID:pve0:9E9B0:103F1191:660069E7:vzcreate:101:root@pam:',
      'upid:pve0:0009E9B0:103F1191:660069E7:vzcreate:101:root@pam:',
      '',
    ]) {
      expect(() => parseUpid(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
      expect(isUpid(bad)).toBe(false);
    }
    expect(isUpid('UPID:n:00000001:00000002:00000003:t:1:u@pam:')).toBe(true);
  });
});
