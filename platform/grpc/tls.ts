// Mutual TLS between services without a sidecar: server and client
// credentials built from certificate, key and CA files that are re-read while
// the process runs (cert-manager renews them in place), and a check that the
// peer's certificate names a service this side expects to talk to.
import type { PeerCertificate } from "node:tls";
import {
  type ChannelCredentials,
  experimental,
  status as GrpcStatus,
  Metadata,
  type ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptor,
} from "@grpc/grpc-js";

export interface GrpcTlsFiles {
  /** PEM certificate (chain) this process presents, as a server and as a client. */
  certFile: string;
  /** PEM private key of certFile. */
  keyFile: string;
  /** PEM CA bundle that signs every peer's certificate. */
  caFile: string;
  /** How often the three files are read again; a renewed certificate is used from the next handshake on. */
  refreshIntervalMs: number;
}

export interface GrpcTls {
  /**
   * Server credentials: a client must present a certificate from the CA (the
   * handshake fails otherwise), and every call from a certificate that names
   * none of `allowedClients` answers PERMISSION_DENIED. An empty list admits
   * any certificate from the CA.
   */
  serverCredentials(allowedClients: readonly string[]): ServerCredentials;
  /** Client credentials that present this process's certificate and accept only a server certificate naming one of `expectedServers`. */
  clientCredentials(expectedServers: readonly string[]): ChannelCredentials;
}

/**
 * TLS credentials over `files`, all watched by one file watcher. The watcher
 * reads the files while a server or channel uses them and stops by itself
 * when none does.
 */
export function createGrpcTls(files: GrpcTlsFiles): GrpcTls {
  const provider = new experimental.FileWatcherCertificateProvider({
    certificateFile: files.certFile,
    privateKeyFile: files.keyFile,
    caCertificateFile: files.caFile,
    refreshIntervalMs: files.refreshIntervalMs,
  });
  return {
    serverCredentials: (allowedClients) => {
      const credentials = experimental.createCertificateProviderServerCredentials(provider, provider, true);
      return allowedClients.length === 0
        ? credentials
        : experimental.createServerCredentialsWithInterceptors(credentials, [createPeerCheckInterceptor(allowedClients)]);
    },
    clientCredentials: (expectedServers) =>
      experimental.createCertificateProviderChannelCredentials(provider, provider, {
        // The channel's target may be an IP list or a headless Service's name, so the
        // certificate is checked for the service it must belong to, not for the host dialled.
        checkServerIdentity: (_host, certificate) =>
          expectedServers.some((name) => certificateNames(certificate, name))
            ? undefined
            : new Error(`the server's certificate names ${describeNames(certificate)}, not ${expectedServers.join(" or ")}`),
      }),
  };
}

/**
 * Whether `certificate` names `service`: a DNS subject alternative name whose
 * first label is the service ("catalog", "catalog.mel.svc.cluster.local"), as
 * cert-manager writes them for a Kubernetes Service.
 */
export function certificateNames(certificate: Pick<PeerCertificate, "subjectaltname">, service: string): boolean {
  return dnsNamesOf(certificate).some((name) => name.split(".")[0] === service);
}

function dnsNamesOf(certificate: Pick<PeerCertificate, "subjectaltname">): string[] {
  return (certificate.subjectaltname ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith("DNS:"))
    .map((entry) => entry.slice("DNS:".length));
}

function describeNames(certificate: Pick<PeerCertificate, "subjectaltname">): string {
  const names = dnsNamesOf(certificate);
  return names.length === 0 ? "no DNS name" : names.join(", ");
}

/** Refuses, before the handler runs, every call whose client certificate names none of `allowedClients`. */
function createPeerCheckInterceptor(allowedClients: readonly string[]): ServerInterceptor {
  return (methodDescriptor, call) => {
    const certificate = call.getAuthContext().sslPeerCertificate;
    const allowed = certificate !== undefined && allowedClients.some((name) => certificateNames(certificate, name));
    if (allowed) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: () => {
            const names = certificate === undefined ? "no certificate" : `a certificate naming ${describeNames(certificate)}`;
            call.sendStatus({
              code: GrpcStatus.PERMISSION_DENIED,
              details: `${methodDescriptor.path}: the client presented ${names}; this server accepts calls from ${allowedClients.join(", ")}`,
              metadata: new Metadata(),
            });
          },
        });
      },
    });
  };
}
