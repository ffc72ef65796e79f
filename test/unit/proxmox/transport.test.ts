import axios from 'axios';
import { describe, expect, it } from 'vitest';
import { axiosTransport, fetchTransport, type AxiosLike } from '../../../src/index.js';
import { describeTransportSuite } from './helpers/transport-suite.js';

describeTransportSuite('fetch + undici Agent (default)', () => fetchTransport());
describeTransportSuite('axios adapter', () => axiosTransport(axios.create()));

describe('axios adapter typing', () => {
  it('accepts a real AxiosInstance structurally (axios is never imported by the library)', () => {
    const instance: AxiosLike = axios.create();
    expect(typeof instance.request).toBe('function');
  });
});
