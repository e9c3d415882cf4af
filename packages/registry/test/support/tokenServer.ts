// A small token service (distribution "Token Authentication Specification") for docker-registry's
// `auth: token` mode: RS256 JWTs whose x5c header carries a self-signed cert the registry trusts.
import { execFileSync } from "node:child_process"
import { createSign, randomUUID, X509Certificate } from "node:crypto"
import { readFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { join } from "node:path"

export interface TokenServer {
  readonly realm: string
  readonly service: string
  readonly issuer: string
  readonly certFile: string
  /** every token request seen: scopes asked, user (undefined = anonymous) */
  readonly requests: Array<{ scopes: string[]; user: string | undefined; method: string }>
  close(): Promise<void>
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url")

/**
 * `users` may pull and push; anonymous callers may only pull. `dir` receives key and cert.
 */
export async function startTokenServer(dir: string, users: Record<string, string>): Promise<TokenServer> {
  const key = join(dir, "token-key.pem")
  const certFile = join(dir, "token-cert.pem")
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certFile, "-subj", "/CN=cairn-test-token", "-days", "2"], {
    stdio: "ignore"
  })
  const keyPem = readFileSync(key, "utf8")
  const der = new X509Certificate(readFileSync(certFile)).raw
  const service = "cairn-test-registry"
  const issuer = "cairn-test-issuer"
  const requests: TokenServer["requests"] = []
  const server: Server = createServer((req, res) => {
    let body = ""
    req.setEncoding("utf8").on("data", (d: string) => (body += d))
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x")
      let scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" "))
      let user: string | undefined
      const auth = req.headers.authorization
      if (auth?.startsWith("Basic ")) {
        const [u, p] = Buffer.from(auth.slice(6), "base64").toString().split(":")
        if (u === undefined || users[u] !== p) {
          res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ details: "bad credentials" }))
          return
        }
        user = u
      }
      if (req.method === "POST") {
        const form = new URLSearchParams(body)
        if (form.get("grant_type") !== "refresh_token" || form.get("refresh_token") !== "refresh-me") {
          res.writeHead(401).end()
          return
        }
        user = Object.keys(users)[0]
        scopes = (form.get("scope") ?? "").split(" ").filter((s) => s !== "")
      }
      requests.push({ scopes, user, method: req.method ?? "GET" })
      const access = scopes.flatMap((s) => {
        const [type, name, actions] = s.split(":")
        if (type !== "repository" || name === undefined || actions === undefined) return []
        const granted = actions.split(",").filter((a) => a === "pull" || (a === "push" && user !== undefined))
        return [{ type, name, actions: granted }]
      })
      const now = Math.floor(Date.now() / 1000)
      const header = { typ: "JWT", alg: "RS256", x5c: [der.toString("base64")] }
      const claims = { iss: issuer, sub: user ?? "", aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access }
      const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`
      const sig = createSign("RSA-SHA256").update(input).sign(keyPem)
      const token = `${input}.${b64url(sig)}`
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify(req.method === "POST" ? { access_token: token, expires_in: 300 } : { token, expires_in: 300 }))
    })
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
  const addr = server.address()
  const port = typeof addr === "object" && addr !== null ? addr.port : 0
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    close: () => new Promise((r) => server.close(() => r()))
  }
}
