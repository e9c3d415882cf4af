// Bearer-token authentication. One shared secret; clients send it as `Authorization: Bearer T`
// or, for registry clients that only do Basic (skopeo --creds, docker login), as the password
// of Basic credentials. GET /token trades Basic credentials for the token, the Docker token
// flow registry clients follow after a Bearer challenge.
import { createHash, timingSafeEqual } from "node:crypto"
import type { IncomingHttpHeaders } from "node:http"

export const TOKEN_REALM_PATH = "/token"
export const SERVICE = "cairn-api"

const sha = (s: string) => createHash("sha256").update(s, "utf8").digest()

/** Compares in constant time (hashes first, so the lengths always match). */
export const tokenMatches = (given: string, expected: string): boolean => timingSafeEqual(sha(given), sha(expected))

/** The token a request presents: the Bearer value or the Basic password. */
export const presentedToken = (headers: IncomingHttpHeaders): { scheme: "bearer" | "basic"; token: string } | undefined => {
  const h = headers.authorization
  if (!h) return undefined
  const m = /^(Bearer|Basic)\s+(\S+)\s*$/i.exec(h)
  if (!m) return undefined
  const scheme = (m[1] ?? "").toLowerCase()
  const value = m[2] ?? ""
  if (scheme === "bearer") return { scheme: "bearer", token: value }
  const decoded = Buffer.from(value, "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  return colon < 0 ? undefined : { scheme: "basic", token: decoded.slice(colon + 1) }
}

/** The challenge sent with every 401 (RFC 6750; distribution token auth spec); `base` is scheme://host[:port]. */
export const challenge = (base: string): string => `Bearer realm="${base}${TOKEN_REALM_PATH}",service="${SERVICE}"`

/** Shortest secret a token may be: shorter ones can be guessed over a loopback connection. */
export const MIN_TOKEN_BYTES = 16
