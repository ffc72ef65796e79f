/**
 * Progress events of the Proxmox LXC runtime.
 * @module
 */

/** The phases of a create, in order. */
export type LxcProgressPhase = 'placement' | 'template-lookup' | 'rootfs' | 'template-build' | 'upload' | 'template-task' | 'create' | 'configure';

/** One progress event: the phase and, where known, bytes and entries done and their totals. */
export interface LxcProgress {
  phase: LxcProgressPhase;
  bytesDone?: number;
  bytesTotal?: number;
  entriesDone?: number;
  entriesTotal?: number;
  /** The PVE task running the phase, if any. */
  upid?: string;
}
