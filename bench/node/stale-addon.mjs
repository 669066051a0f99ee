// Warns when this checkout's addon (node/*.node) is older than the Rust sources it is built
// from: a bench run directly (not through run.sh, which rebuilds it) would measure old native
// code. Another build given by OXRAY_NODE_DIR is left alone.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCES = ['core/src', 'bindings/node/src', 'core/Cargo.toml', 'bindings/node/Cargo.toml', 'Cargo.lock'];

/** The newest modification time (ms) under `file`, a file or a folder. */
function newest(file) {
  const info = statSync(file);
  if (!info.isDirectory()) return info.mtimeMs;
  return Math.max(0, ...readdirSync(file).map((name) => newest(path.join(file, name))));
}

/** @param {string} nodeDir the node/ package the bench loads */
export function warnIfStaleAddon(nodeDir) {
  if (path.resolve(nodeDir) !== path.join(repo, 'node')) return;
  try {
    const addons = readdirSync(nodeDir).filter((name) => name.endsWith('.node'));
    if (addons.length === 0) return;
    const built = Math.min(...addons.map((name) => statSync(path.join(nodeDir, name)).mtimeMs));
    const changed = Math.max(...SOURCES.map((p) => newest(path.join(repo, p))));
    if (built < changed) {
      console.warn('warning: node/*.node is older than the Rust sources: this run measures an old build (rebuild: cd node && npm run build, or use bench/node/run.sh)');
    }
  } catch {
    // A checkout laid out otherwise: no warning.
  }
}
