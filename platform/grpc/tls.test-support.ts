// Certificates made on the spot for mutual TLS tests: a CA and leaf
// certificates naming services, written as PEM files with the openssl CLI.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCa {
  dir: string;
  certFile: string;
  keyFile: string;
}

export interface TestCertificate {
  certFile: string;
  keyFile: string;
}

/** A folder for one test file's certificates; remove() deletes it. */
export function createCertificateFolder(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "mel-tls-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** A self-signed EC CA named `name` in `dir`. */
export function createTestCa(dir: string, name: string): TestCa {
  const certFile = join(dir, `${name}-ca.crt`);
  const keyFile = join(dir, `${name}-ca.key`);
  openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-keyout",
    keyFile,
    "-out",
    certFile,
  ]);
  return { dir, certFile, keyFile };
}

/**
 * A leaf certificate signed by `ca` whose DNS names are `dnsNames`, usable
 * both as a server and as a client certificate, written to `<file>.crt/.key`
 * (overwriting them: that is how a renewal looks on disk).
 */
export function issueCertificate(ca: TestCa, file: string, dnsNames: string[]): TestCertificate {
  const certFile = join(ca.dir, `${file}.crt`);
  const keyFile = join(ca.dir, `${file}.key`);
  const requestFile = join(ca.dir, `${file}.csr`);
  const extensionsFile = join(ca.dir, `${file}.ext`);
  writeFileSync(extensionsFile, `subjectAltName=${dnsNames.map((name) => `DNS:${name}`).join(",")}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  openssl([
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-subj",
    `/CN=${dnsNames[0] ?? file}`,
    "-keyout",
    keyFile,
    "-out",
    requestFile,
  ]);
  openssl(["x509", "-req", "-in", requestFile, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-days", "1", "-extfile", extensionsFile, "-out", certFile]);
  return { certFile, keyFile };
}
