import type { CliCommand } from '../types.js';
import { validateCommand } from './validate.js';
import { selectCommand } from './select.js';
import { unpackCommand } from './unpack.js';
import { bundleCommand } from './bundle.js';
import { simulatorCommand } from './simulator.js';
import { demoCommand } from './demo.js';
import { podCommand } from './pod.js';
import { createCommand } from './create.js';
import { startCommand } from './start.js';
import { stopCommand } from './stop.js';
import { rmCommand } from './rm.js';
import { psCommand } from './ps.js';
import { inspectCommand } from './inspect.js';
import { reconcileCommand } from './reconcile.js';
import { pullCommand } from './pull.js';
import { imagesCommand } from './images.js';

/**
 * Every `lxcri` subcommand, in the order `lxcri --help` lists them. Each lives in its own file
 * in this folder and is added here with one line.
 */
export const commands: readonly CliCommand[] = [
  demoCommand,
  podCommand,
  createCommand,
  startCommand,
  stopCommand,
  rmCommand,
  psCommand,
  inspectCommand,
  reconcileCommand,
  validateCommand,
  selectCommand,
  unpackCommand,
  bundleCommand,
  simulatorCommand,
  pullCommand,
  imagesCommand,
];
