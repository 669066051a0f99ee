// Runs a Node child process to its end and collects what it printed, for tests that need a
// fresh process (process-wide state, exits, a module not loaded yet).
import { spawn } from 'node:child_process';

/**
 * Runs `node ...args`; resolves once the child has exited. A hang guard (not a timing check)
 * kills it after `guardMs`.
 * @param {string[]} args
 * @param {{ env?: NodeJS.ProcessEnv, cwd?: string, guardMs?: number }} [options]
 * @returns {Promise<{ code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }>}
 */
export function runNode(args, { env = process.env, cwd, guardMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const guard = setTimeout(() => child.kill('SIGKILL'), guardMs);
    child.on('error', (err) => {
      clearTimeout(guard);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
