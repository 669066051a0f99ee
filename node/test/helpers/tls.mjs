// A throw-away key and self-signed certificate for 127.0.0.1 / localhost, made by `openssl` at
// test time, for real TLS servers in tests. The files stay in `dir` (a child process may trust
// `certPath` through NODE_EXTRA_CA_CERTS) until `remove()`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Why TLS tests are skipped when there is no certificate (a `skip` reason for node:test). */
export const NO_OPENSSL = 'openssl is not installed: no certificate to test with';

/**
 * @returns {{ key: string, cert: string, dir: string, certPath: string, remove: () => void } | null}
 *   null where openssl is absent or fails
 */
export function makeCertificate() {
  const dir = mkdtempSync(path.join(tmpdir(), 'oxray-tls-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=oxray-test',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8'), dir, certPath: cert, remove };
  } catch {
    remove();
    return null;
  }
}
