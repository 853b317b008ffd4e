// The verification keys a service trusts, kept in memory. jose's
// createRemoteJWKSet only fetches over HTTP; our keys come from identity over
// gRPC (or, inside identity, straight from its key ring), so the caching,
// single-flight refetch and cool-down around jose's createLocalJWKSet are ours.
import { type CryptoKey, createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters } from "jose";
import { ErrorReason, UnavailableError } from "../errors/index.js";
import type { Logger } from "../log/index.js";

/** Where verification keys come from: IdentityService.GetJwks, or identity's own key ring. */
export type JwksSource = () => Promise<JSONWebKeySet>;

export interface CachedKeySetOptions {
  /** Keys older than this are fetched again before use. Default 5 min. */
  maxAgeMs?: number;
  /**
   * Least time between fetches caused by a token with an unknown kid, so a
   * flood of forged kids costs identity one GetJwks per period. Default 10 s.
   */
  unknownKidCooldownMs?: number;
  /**
   * How long keys may be used past maxAgeMs while the source fails (identity
   * down): availability over freshness, bounded. Default 1 h.
   */
  maxStaleMs?: number;
  logger?: Logger;
  /** Milliseconds clock, for tests. */
  clock?: () => number;
}

export interface CachedKeySet {
  /** jose key resolver for jwtVerify: the key for the token's kid and alg. */
  getKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey>;
  /** Fetches now (sharing a fetch already in flight). */
  refresh(): Promise<void>;
  /** How many times the source has been asked, for tests and metrics. */
  readonly fetchCount: number;
}

interface Loaded {
  jwks: JSONWebKeySet;
  resolve: ReturnType<typeof createLocalJWKSet>;
  fetchedAt: number;
}

/** A key set fetched from `source`, cached, and fetched again when stale or when a token names an unknown kid. */
export function createCachedKeySet(source: JwksSource, options: CachedKeySetOptions = {}): CachedKeySet {
  const maxAgeMs = options.maxAgeMs ?? 5 * 60_000;
  const cooldownMs = options.unknownKidCooldownMs ?? 10_000;
  const maxStaleMs = options.maxStaleMs ?? 60 * 60_000;
  const clock = options.clock ?? Date.now;
  let loaded: Loaded | undefined;
  let inFlight: Promise<Loaded> | undefined;
  let lastAttempt = Number.NEGATIVE_INFINITY;
  let lastError: unknown;
  let fetchCount = 0;

  function fetchKeys(): Promise<Loaded> {
    inFlight ??= (async () => {
      lastAttempt = clock();
      fetchCount++;
      try {
        const jwks = await source();
        if (!Array.isArray(jwks?.keys)) throw new Error("the key source returned no keys array");
        // A source that hands back the very same object (identity's key ring, from its own cache)
        // has nothing new: keep the resolver and the keys jose already imported.
        const resolve = loaded?.jwks === jwks ? loaded.resolve : createLocalJWKSet(jwks);
        loaded = { jwks, resolve, fetchedAt: clock() };
        lastError = undefined;
        return loaded;
      } catch (error) {
        lastError = error;
        throw error;
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  }

  function unavailable(error: unknown): UnavailableError {
    const reason = error instanceof Error ? error.message : String(error);
    return new UnavailableError(`cannot verify access tokens: the signing keys could not be fetched (${reason})`, {
      cause: error,
      reason: ErrorReason.TOKEN_KEYS_UNAVAILABLE,
    });
  }

  async function usable(): Promise<Loaded> {
    const current = loaded;
    if (current && clock() - current.fetchedAt < maxAgeMs) return current;
    const stale = current && clock() - current.fetchedAt < maxAgeMs + maxStaleMs ? current : undefined;
    // While the source fails, ask it again at most once per cool-down (once a second with
    // nothing cached), so an identity outage is not met with a fetch per request.
    const failedRecently = lastError !== undefined && clock() - lastAttempt < (stale ? cooldownMs : Math.min(cooldownMs, 1000));
    if (failedRecently) {
      if (stale) return stale;
      throw unavailable(lastError);
    }
    try {
      return await fetchKeys();
    } catch (error) {
      if (!stale) throw unavailable(error);
      options.logger?.warn({ err: error instanceof Error ? error.message : String(error) }, "could not refresh token signing keys; using the cached ones");
      return stale;
    }
  }

  return {
    async getKey(header, token) {
      const current = await usable();
      try {
        return await current.resolve(header, token);
      } catch (error) {
        if (!(error instanceof errors.JWKSNoMatchingKey) || clock() - lastAttempt < cooldownMs) throw error;
        // A kid we have not seen: identity may have rotated since we fetched. Ask once, then decide.
        const refreshed = await fetchKeys().catch(() => current);
        return refreshed.resolve(header, token);
      }
    },
    async refresh() {
      await fetchKeys();
    },
    get fetchCount() {
      return fetchCount;
    },
  };
}
