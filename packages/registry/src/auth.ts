// Registry authentication: the WWW-Authenticate challenge (RFC 9110 11.6.1), Docker's token
// protocol (distribution docs "Token Authentication Specification", and the OAuth2 refresh-token
// form for identity tokens), and Basic auth. Tokens are cached per registry and scope set.
import { AuthError } from "./errors.js"
import type { HttpResponse, Transport } from "./transport.js"

/** What a credential source knows for a registry. */
export interface Credentials {
  readonly username?: string
  readonly password?: string
  /** a refresh token (docker config `identitytoken`), exchanged via OAuth2 POST */
  readonly identityToken?: string
}

/** Looks up credentials for a registry (`host[:port]`, `docker.io` for Docker Hub). */
export type CredentialStore = (registry: string) => Promise<Credentials | undefined>

export interface Challenge {
  readonly scheme: string
  readonly params: Readonly<Record<string, string>>
}

/** Parses a WWW-Authenticate value, which may hold several challenges (RFC 9110 11.6.1). */
export function parseChallenges(header: string): Challenge[] {
  const out: Array<{ scheme: string; params: Record<string, string> }> = []
  let i = 0
  const s = header
  const skip = () => {
    while (i < s.length && (s[i] === " " || s[i] === "\t" || s[i] === ",")) i++
  }
  const token = () => {
    const start = i
    while (i < s.length && /[!#$%&'*+.^_`|~0-9A-Za-z-/]/.test(s[i]!)) i++
    return s.slice(start, i)
  }
  while (i < s.length) {
    skip()
    const word = token()
    if (word === "") {
      i++
      continue
    }
    let j = i
    while (j < s.length && s[j] === " ") j++
    if (s[j] === "=" && out.length > 0) {
      // auth-param of the current challenge
      i = j + 1
      while (i < s.length && s[i] === " ") i++
      let value = ""
      if (s[i] === '"') {
        i++
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++
          value += s[i]
          i++
        }
        i++
      } else value = token()
      out[out.length - 1]!.params[word.toLowerCase()] = value
    } else out.push({ scheme: word.toLowerCase(), params: {} })
  }
  return out
}

interface CachedToken {
  readonly token: string
  readonly expiresAt: number
}

interface RegistryAuthState {
  scheme?: "basic" | "bearer"
  bearer?: Readonly<Record<string, string>>
  readonly tokens: Map<string, CachedToken>
  credentials?: Promise<Credentials | undefined>
}

const scopeKey = (scopes: readonly string[]) => [...new Set(scopes)].sort().join(" ")

/** Authorization for every registry one client talks to; holds the token cache. */
export class Authenticator {
  private readonly state = new Map<string, RegistryAuthState>()

  constructor(
    private readonly transport: Transport,
    private readonly credentialStore: CredentialStore | undefined
  ) {}

  private of(registry: string): RegistryAuthState {
    let st = this.state.get(registry)
    if (st === undefined) this.state.set(registry, (st = { tokens: new Map() }))
    return st
  }

  private credentials(registry: string): Promise<Credentials | undefined> {
    const st = this.of(registry)
    st.credentials ??= this.credentialStore ? this.credentialStore(registry) : Promise.resolve(undefined)
    return st.credentials
  }

  /** The Authorization header to send up front, once the registry has told us its scheme. */
  async authorization(registry: string, scopes: readonly string[]): Promise<string | undefined> {
    const st = this.of(registry)
    if (st.scheme === "basic") return basicHeader(registry, await this.credentials(registry))
    if (st.scheme === "bearer") {
      const t = st.tokens.get(scopeKey(scopes))
      if (t !== undefined && t.expiresAt > Date.now()) return `Bearer ${t.token}`
      if (st.bearer !== undefined) return `Bearer ${await this.fetchToken(registry, st.bearer, scopes)}`
    }
    return undefined
  }

  /**
   * Handles a 401: learns the scheme, fetches a token when needed. Fails with AuthError when there
   * is nothing more to try (no credentials for Basic, the token service refused).
   */
  async challenge(registry: string, res: HttpResponse, scopes: readonly string[], sentAuthorization: boolean): Promise<void> {
    const header = res.header("www-authenticate")
    const challenges = header === undefined ? [] : parseChallenges(header)
    const bearer = challenges.find((c) => c.scheme === "bearer")
    const basic = challenges.find((c) => c.scheme === "basic")
    const st = this.of(registry)
    if (bearer !== undefined) {
      if (bearer.params.realm === undefined) throw new AuthError({ registry, reason: "Bearer challenge without a realm", status: 401 })
      const wasBearer = st.scheme === "bearer" && sentAuthorization
      st.scheme = "bearer"
      st.bearer = bearer.params
      // a token we sent was refused: a fresh one with the same scopes would fare no better
      if (wasBearer && st.tokens.has(scopeKey(scopes))) {
        st.tokens.delete(scopeKey(scopes))
        throw new AuthError({ registry, reason: `the registry refused the token for ${scopeKey(scopes) || "its scope"}`, status: 401 })
      }
      const extra = bearer.params.scope?.split(" ").filter((x) => x !== "") ?? []
      await this.fetchToken(registry, bearer.params, [...scopes, ...extra], scopes)
      return
    }
    if (basic !== undefined) {
      const creds = await this.credentials(registry)
      if (sentAuthorization && st.scheme === "basic") {
        throw new AuthError({ registry, reason: `username/password for ${creds?.username ?? "?"} rejected`, status: 401 })
      }
      st.scheme = "basic"
      if (basicHeader(registry, creds) === undefined) {
        throw new AuthError({ registry, reason: "the registry asks for Basic auth and no credentials are configured for it", status: 401 })
      }
      return
    }
    throw new AuthError({ registry, reason: `401 without a usable WWW-Authenticate challenge (${header ?? "none"})`, status: 401 })
  }

  private async fetchToken(
    registry: string,
    params: Readonly<Record<string, string>>,
    scopes: readonly string[],
    cacheScopes: readonly string[] = scopes
  ): Promise<string> {
    const creds = await this.credentials(registry)
    const realm = new URL(params.realm!)
    const wanted = [...new Set(scopes)]
    let res: HttpResponse
    if (creds?.identityToken !== undefined) {
      // OAuth2 refresh-token grant (token spec "oauth.md")
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: creds.identityToken, client_id: "cairn" })
      if (params.service !== undefined) form.set("service", params.service)
      if (wanted.length > 0) form.set("scope", wanted.join(" "))
      res = await this.transport.request({
        method: "POST",
        url: realm,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: Buffer.from(form.toString())
      })
    } else {
      if (params.service !== undefined) realm.searchParams.set("service", params.service)
      for (const s of wanted) realm.searchParams.append("scope", s)
      const auth = basicHeader(registry, creds)
      res = await this.transport.request({ method: "GET", url: realm, headers: auth ? { authorization: auth } : {} })
    }
    if (res.status !== 200) {
      const body = await res.text(64 * 1024).catch(() => "")
      throw new AuthError({
        registry,
        reason: `token service ${realm.origin}${realm.pathname} answered HTTP ${res.status}${creds ? "" : " (anonymous)"}${body ? `: ${body.slice(0, 200)}` : ""}`,
        status: res.status
      })
    }
    let json: { token?: string; access_token?: string; expires_in?: number; issued_at?: string }
    try {
      json = JSON.parse(await res.text(1 << 20))
    } catch {
      throw new AuthError({ registry, reason: "token service answered with invalid JSON" })
    }
    const token = json.token ?? json.access_token
    if (typeof token !== "string" || token === "") throw new AuthError({ registry, reason: "token service answered without a token" })
    // token spec: expires_in defaults to 60 s; renew a little early
    const ttl = (typeof json.expires_in === "number" && json.expires_in > 0 ? json.expires_in : 60) * 1000
    this.of(registry).tokens.set(scopeKey(cacheScopes), { token, expiresAt: Date.now() + ttl - Math.min(10_000, ttl / 10) })
    return token
  }
}

function basicHeader(_registry: string, creds: Credentials | undefined): string | undefined {
  if (creds?.username === undefined || creds.password === undefined) return undefined
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`
}

/** `repository:<name>:<actions>` (token spec "Requesting a Token", scope grammar). */
export const repositoryScope = (repository: string, actions: "pull" | "pull,push" | "delete") =>
  `repository:${repository}:${actions}`

/** A credential store over a fixed map: `{ "127.0.0.1:5000": { username, password } }`. */
export function staticCredentials(map: Readonly<Record<string, Credentials>>): CredentialStore {
  return async (registry) => map[registry]
}
