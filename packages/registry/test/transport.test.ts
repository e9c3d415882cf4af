import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { parseDigest } from "@cairn/digest"
import { afterEach, describe, expect, it } from "vitest"
import { parseRetryAfter, RegistryClient, staticCredentials, Transport } from "../src/index.js"

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})
async function serve(bind: string, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createServer(handler)
  servers.push(s)
  await new Promise<void>((r) => s.listen(0, bind, () => r()))
  const a = s.address()
  return `${bind}:${typeof a === "object" && a !== null ? a.port : 0}`
}

describe("parseRetryAfter", () => {
  it("reads delta-seconds and HTTP dates, and ignores junk", () => {
    expect(parseRetryAfter("3")).toBe(3000)
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:05 GMT", Date.parse("Wed, 21 Oct 2015 07:28:00 GMT"))).toBe(5000)
    expect(parseRetryAfter("soon")).toBeUndefined()
    expect(parseRetryAfter(undefined)).toBeUndefined()
  })
})

describe("Transport redirects", () => {
  it("keeps Authorization on a same-host redirect and drops it on another host", async () => {
    const seen: Array<[string, string | undefined]> = []
    const other = await serve("127.0.0.2", (req, res) => {
      seen.push(["other", req.headers.authorization])
      res.end("there")
    })
    const origin = await serve("127.0.0.1", (req, res) => {
      seen.push([req.url ?? "", req.headers.authorization])
      if (req.url === "/a") res.writeHead(302, { location: "/b" }).end()
      else if (req.url === "/b") res.writeHead(307, { location: `http://${other}/c` }).end()
      else res.end()
    })
    const t = new Transport()
    try {
      const res = await t.request({ method: "GET", url: `http://${origin}/a`, headers: { Authorization: "Bearer secret" } })
      expect(await res.text()).toBe("there")
      expect(res.url.host).toBe(other)
      expect(seen).toEqual([
        ["/a", "Bearer secret"],
        ["/b", "Bearer secret"],
        ["other", undefined]
      ])
    } finally {
      t.close()
    }
  })

  it("resends a streamed body on retry by calling its factory again", async () => {
    const bodies: string[] = []
    let n = 0
    const host = await serve("127.0.0.1", (req, res) => {
      let b = ""
      req.setEncoding("utf8").on("data", (d: string) => (b += d))
      req.on("end", () => {
        bodies.push(b)
        res.writeHead(n++ === 0 ? 503 : 201).end()
      })
    })
    const t = new Transport({ retry: { attempts: 3, baseDelayMs: 1 } })
    let opened = 0
    try {
      const res = await t.request({
        method: "PUT",
        url: `http://${host}/x`,
        body: async () => {
          opened++
          return (async function* () {
            yield Buffer.from("hello ")
            yield Buffer.from("world")
          })()
        },
        bodyLength: 11
      })
      expect(res.status).toBe(201)
      expect(bodies).toEqual(["hello world", "hello world"])
      expect(opened).toBe(2)
    } finally {
      t.close()
    }
  })
})

describe("RegistryClient endpoints", () => {
  it("uses plain HTTP for loopback and listed registries only", () => {
    const c = new RegistryClient({ credentials: staticCredentials({}), plainHttp: ["reg.internal:5000"] })
    expect(c.endpoint("127.0.0.1:5000").base.href).toBe("http://127.0.0.1:5000/")
    expect(c.endpoint("localhost").base.href).toBe("http://localhost/")
    expect(c.endpoint("reg.internal:5000").base.href).toBe("http://reg.internal:5000/")
    expect(c.endpoint("ghcr.io").base.href).toBe("https://ghcr.io/")
    expect(c.endpoint("docker.io").base.href).toBe("https://registry-1.docker.io/")
    c.close()
  })
})

describe("referrers API", () => {
  it("follows Link pages and applies the artifactType filter when the registry did not", async () => {
    const subject = parseDigest(`sha256:${"1".repeat(64)}`)
    const desc = (n: string, artifactType: string) => ({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: `sha256:${n.repeat(64)}`,
      size: 10,
      artifactType
    })
    const pages: Record<string, unknown[]> = { "": [desc("a", "application/x-sig")], "2": [desc("b", "application/x-sbom")] }
    const host = await serve("127.0.0.1", (req, res) => {
      const url = new URL(req.url ?? "/", "http://x")
      if (url.pathname !== `/v2/some/repo/referrers/${subject}`) return res.writeHead(404).end()
      const page = url.searchParams.get("page") ?? ""
      const headers: Record<string, string> = { "content-type": "application/vnd.oci.image.index.v1+json" }
      if (page === "") headers.link = `</v2/some/repo/referrers/${subject}?page=2>; rel="next"`
      res.writeHead(200, headers).end(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: pages[page] }))
    })
    const c = new RegistryClient({ credentials: staticCredentials({}) })
    try {
      const all = await c.referrers(`${host}/some/repo`, subject)
      expect(all.manifests.map((m) => m.artifactType)).toEqual(["application/x-sig", "application/x-sbom"])
      const sboms = await c.referrers(`${host}/some/repo`, subject, { artifactType: "application/x-sbom" })
      expect(sboms.manifests.map((m) => m.digest)).toEqual([`sha256:${"b".repeat(64)}`])
    } finally {
      c.close()
    }
  })
})
