// Issue #14 against the live server over raw sockets: cross-site requests and DNS rebinding,
// header/idle/body timeouts, aborted and refused uploads leaving nothing behind, the token realm.
import { readdir, rm, stat } from "node:fs/promises"
import * as net from "node:net"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createServer } from "../src/server.js"
import { ingestEntries, randomBlob, type Running, sha256, startStoreServer, storeOnlyEngine, tempDir } from "./fixtures.js"

interface Reply {
  readonly status: number
  readonly head: string
  readonly body: string
}

/** One request written byte for byte on a fresh connection; the first response, parsed loosely. */
const send = (port: number, text: string | Buffer, opts: { keepOpen?: boolean } = {}): Promise<Reply & { socket: net.Socket }> =>
  new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(text))
    let buf = ""
    const done = () => {
      const i = buf.indexOf("\r\n\r\n")
      if (i < 0) return false
      const head = buf.slice(0, i)
      const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? "0")
      const chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head)
      let body = buf.slice(i + 4)
      if (chunked) {
        if (!body.endsWith("0\r\n\r\n")) return false
        body = body.replace(/(?:^|\r\n)[0-9a-f]+\r\n/gi, "").replace(/\r\n$/, "")
      } else if (Buffer.byteLength(body) < len) return false
      if (!opts.keepOpen) socket.destroy()
      resolve({ status: Number(head.split(" ")[1]), head: head.toLowerCase(), body, socket })
      return true
    }
    socket.on("data", (c: Buffer) => {
      buf += c.toString("utf8")
      done()
    })
    socket.on("error", reject)
    socket.on("close", () => {
      if (!done()) reject(new Error(`connection closed before a response: ${JSON.stringify(buf)}`))
    })
  })

const request = (port: number, method: string, path: string, headers: Record<string, string>, body = "") => {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${headers.Host ?? `127.0.0.1:${port}`}`, "Connection: close"]
  for (const [k, v] of Object.entries(headers)) if (k !== "Host") lines.push(`${k}: ${v}`)
  if (headers["Content-Length"] === undefined && (body !== "" || method === "POST" || method === "PUT" || method === "PATCH")) lines.push(`Content-Length: ${Buffer.byteLength(body)}`)
  return send(port, `${lines.join("\r\n")}\r\n\r\n${body}`)
}

/** Resolves with how long the server took to close a connection that sent `text`. */
const closedAfter = (port: number, text: string) =>
  new Promise<{ ms: number; got: string }>((resolve, reject) => {
    const t0 = Date.now()
    let got = ""
    const socket = net.connect(port, "127.0.0.1", () => {
      if (text !== "") socket.write(text)
    })
    socket.on("data", (c: Buffer) => {
      got += c.toString()
    })
    socket.on("error", reject)
    socket.on("close", () => resolve({ ms: Date.now() - t0, got }))
  })


describe("cross-site requests and DNS rebinding (no token)", () => {
  let srv: Running
  beforeAll(async () => {
    srv = await startStoreServer()
  })
  afterAll(() => srv.stop())

  it("refuses a JSON endpoint's body unless it is application/json (form posts, text/plain)", async () => {
    const plain = await request(srv.port, "POST", "/images/bb/tag", { "Content-Type": "text/plain" }, '{"name":"evil:1"}')
    expect(plain.status).toBe(415)
    expect(JSON.parse(plain.body).error.code).toBe("UNSUPPORTED_MEDIA_TYPE")
    const form = await request(srv.port, "POST", "/containers", { "Content-Type": "application/x-www-form-urlencoded" }, "image=busybox")
    expect(form.status).toBe(415)
    const multipart = await request(srv.port, "POST", "/gc", { "Content-Type": "multipart/form-data; boundary=x" }, "--x--")
    expect(multipart.status).toBe(415)
    // a body without any Content-Type is no JSON either
    expect((await request(srv.port, "POST", "/gc", {}, "{}")).status).toBe(415)
    // the import takes its archive types only
    expect((await request(srv.port, "POST", "/images/import?format=oci-archive", { "Content-Type": "text/plain" }, "x")).status).toBe(415)
  })

  it("refuses a /v2 upload a browser form could send (text/plain, urlencoded) and stores nothing", async () => {
    const data = "hello from a form"
    const res = await request(srv.port, "POST", `/v2/x/blobs/uploads/?digest=${sha256(data)}`, { "Content-Type": "text/plain" }, data)
    expect(res.status).toBe(415)
    expect(JSON.parse(res.body).errors[0].code).toBe("UNSUPPORTED")
    expect(await srv.engine.store.has(sha256(data))).toBe(false)
    const manifest = await request(srv.port, "PUT", "/v2/x/manifests/latest", { "Content-Type": "application/x-www-form-urlencoded" }, "a=b")
    expect(manifest.status).toBe(415)
  })

  it("answers a foreign Origin with 403 and a JSON error on writes, reads and /events, and sends no CORS headers", async () => {
    const evil = { Origin: "http://evil.example" }
    const gc = await request(srv.port, "POST", "/gc", { ...evil, "Content-Type": "application/json" }, "{}")
    expect(gc.status).toBe(403)
    expect(JSON.parse(gc.body).error.code).toBe("FORBIDDEN_ORIGIN")
    const mount = await request(srv.port, "POST", "/containers/x/mount", evil)
    expect(mount.status).toBe(403)
    const blob = await request(srv.port, "POST", `/v2/x/blobs/uploads/?digest=${sha256("a")}`, { ...evil, "Content-Type": "application/octet-stream" }, "a")
    expect(blob.status).toBe(403)
    expect(JSON.parse(blob.body).errors[0].code).toBe("DENIED")
    expect(await srv.engine.store.has(sha256("a"))).toBe(false)
    for (const path of ["/images", "/events", "/v2/_catalog", "/token", "/openapi.json"]) {
      const r = await request(srv.port, "GET", path, { Origin: "null" })
      expect([path, r.status]).toEqual([path, 403])
      expect(r.head).not.toContain("access-control-allow")
    }
    // a same-site page on another port is still another origin
    expect((await request(srv.port, "GET", "/v2/", { Origin: "http://127.0.0.1:1" })).status).toBe(403)
    expect((await request(srv.port, "GET", "/v2/", { "Sec-Fetch-Site": "cross-site" })).status).toBe(403)
    const preflight = await request(srv.port, "OPTIONS", "/gc", { ...evil, "Access-Control-Request-Method": "POST" })
    expect(preflight.head).not.toContain("access-control-allow")
    // the service's own origin, or no Origin at all (curl, skopeo), is served
    expect((await request(srv.port, "GET", "/v2/", { Origin: `http://127.0.0.1:${srv.port}` })).status).toBe(200)
    expect((await request(srv.port, "GET", "/v2/", {})).status).toBe(200)
  })

  it("serves only loopback Host values (DNS rebinding), with any port", async () => {
    const rebound = await request(srv.port, "POST", "/images/import?format=oci-archive", { Host: `rebind.attacker.example:${srv.port}`, "Content-Type": "application/x-tar" }, "x")
    expect(rebound.status).toBe(403)
    expect(JSON.parse(rebound.body).error.code).toBe("FORBIDDEN_HOST")
    const v2 = await request(srv.port, "GET", "/v2/_catalog", { Host: "rebind.attacker.example" })
    expect(v2.status).toBe(403)
    expect(JSON.parse(v2.body).errors[0].code).toBe("DENIED")
    expect((await request(srv.port, "GET", "/v2/", { Host: "127.0.0.1.attacker.example" })).status).toBe(403)
    expect((await request(srv.port, "GET", "/v2/", { Host: "localhost.attacker.example:80" })).status).toBe(403)
    for (const host of [`localhost:${srv.port}`, "localhost", `[::1]:${srv.port}`, "127.0.0.2:8080", `127.0.0.1:${srv.port}`]) {
      expect([host, (await request(srv.port, "GET", "/v2/", { Host: host })).status]).toEqual([host, 200])
    }
  })

  it("refuses to listen on a non-loopback address without a token", async () => {
    const root = await tempDir()
    const engine = await storeOnlyEngine(root)
    try {
      await expect(createServer(engine, { host: "0.0.0.0" }).listen()).rejects.toThrow(/without a token/)
      const withToken = createServer(engine, { host: "0.0.0.0", token: "a-token-of-sixteen-bytes" })
      const a = await withToken.listen()
      // with a token any Host may be used: the token is what protects the service
      const r = await request(a.port, "GET", "/v2/", { Host: "registry.example", Authorization: "Bearer a-token-of-sixteen-bytes" })
      expect(r.status).toBe(200)
      await withToken.close()
    } finally {
      await engine.close()
      await rm(root, { recursive: true, force: true })
    }
  })
})

describe("timeouts", () => {
  let srv: Running
  const logs: string[] = []
  let onLog: ((line: string) => void) | undefined
  beforeAll(async () => {
    srv = await startStoreServer({
      headersTimeoutMs: 300,
      keepAliveTimeoutMs: 300,
      bodyIdleTimeoutMs: 300,
      log: (line) => {
        logs.push(line)
        onLog?.(line)
      }
    })
  })
  afterAll(() => srv.stop())
  const nextLog = () => new Promise<string>((resolve) => (onLog = resolve))

  it("closes an idle connection, a partial request line and headers without the final CRLF", async () => {
    for (const text of ["", "GET /v2/ HT", `GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\n`]) {
      const { ms } = await closedAfter(srv.port, text)
      // closed by the server (the test would hang otherwise); well before anything like a minute
      expect(ms).toBeLessThan(10_000)
    }
  })

  it("closes a keep-alive connection that stays idle after its response", async () => {
    const r = await send(srv.port, `GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\n\r\n`, { keepOpen: true })
    expect(r.status).toBe(200)
    await new Promise<void>((resolve) => (r.socket.destroyed ? resolve() : r.socket.on("close", () => resolve())))
  })

  it("aborts a monolithic upload whose body stops arriving, logs one line, and leaves nothing", async () => {
    const data = randomBlob(1000)
    const logged = nextLog()
    const closed = closedAfter(
      srv.port,
      `POST /v2/x/blobs/uploads/?digest=${sha256(data)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n${"a".repeat(100)}`
    )
    await closed
    const line = await logged
    expect(line).toMatch(/client aborted/)
    expect(line).not.toContain("\n")
    expect(await srv.engine.store.has(sha256(data))).toBe(false)
    expect(await ingestEntries(srv.root)).toEqual([])
  })

  it("aborts a stalled chunk of an upload session and keeps the session at its old offset", async () => {
    const start = await request(srv.port, "POST", "/v2/x/blobs/uploads/", {})
    expect(start.status).toBe(202)
    const loc = /\r\nlocation: (\S+)/.exec(start.head)?.[1] as string
    const logged = nextLog()
    await closedAfter(srv.port, `PATCH ${loc} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 500\r\n\r\n${"b".repeat(200)}`)
    expect(await logged).toMatch(/client aborted/)
    const files = await readdir(join(srv.root, "api-uploads"))
    expect(files).toHaveLength(1)
    expect((await stat(join(srv.root, "api-uploads", files[0] as string))).size).toBe(0)
    expect((await request(srv.port, "DELETE", loc, {})).status).toBe(204)
  })

  it("closes a blob download whose client stops reading", async () => {
    const blob = randomBlob(32 << 20)
    await srv.engine.store.put(blob, { digest: sha256(blob) })
    const logged = nextLog()
    const socket = net.connect(srv.port, "127.0.0.1", () => {
      socket.write(`GET /v2/x/blobs/${sha256(blob)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      // read the first bytes, then never again
      socket.once("data", () => socket.pause())
    })
    socket.on("error", () => {})
    expect(await logged).toMatch(/stopped reading the response/)
    socket.destroy()
  })

  it("keeps an upload alive while bytes keep arriving, however long it takes in total", async () => {
    // a server of its own with a 1.2 s idle limit: pieces 400 ms apart leave 800 ms for a slow
    // moment of this process (the server runs in it) before a gap looks idle; 300 ms left 200 ms
    const patient = await startStoreServer({ bodyIdleTimeoutMs: 1200 })
    const data = randomBlob(5 * 1024)
    const socket = net.connect(patient.port, "127.0.0.1")
    try {
      const reply = new Promise<string>((resolve) => {
        let got = ""
        socket.on("data", (c: Buffer) => {
          got += c.toString()
          if (got.includes("\r\n\r\n")) resolve(got)
        })
      })
      await new Promise<void>((resolve) => socket.on("connect", () => resolve()))
      socket.write(`POST /v2/x/blobs/uploads/?digest=${sha256(data)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${data.length}\r\n\r\n`)
      // 5 pieces, 400 ms apart: 2 s in all, longer than the idle limit
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 400))
        socket.write(data.subarray(i * 1024, (i + 1) * 1024))
      }
      expect((await reply).split(" ")[1]).toBe("201")
      expect(await patient.engine.store.has(sha256(data))).toBe(true)
    } finally {
      socket.destroy()
      await patient.stop()
    }
  })
})

describe("uploads that fail leave nothing in ingest/", () => {
  let srv: Running
  const logs: string[] = []
  let onLog: ((line: string) => void) | undefined
  beforeAll(async () => {
    srv = await startStoreServer({
      maxBlobBytes: 1 << 20,
      log: (line) => {
        logs.push(line)
        onLog?.(line)
      }
    })
  })
  afterAll(() => srv.stop())

  it("refuses a 9 GiB Content-Length up front: 413, no file, no .hashstate", async () => {
    const digest = sha256("whatever")
    const r = await request(srv.port, "POST", `/v2/x/blobs/uploads/?digest=${digest}`, { "Content-Type": "application/octet-stream", "Content-Length": String(9 * 2 ** 30) })
    expect(r.status).toBe(413)
    expect(await ingestEntries(srv.root)).toEqual([])
  })

  it("drops what an oversized chunked upload wrote", async () => {
    const big = randomBlob(1.5 * 2 ** 20)
    const socket = net.connect(srv.port, "127.0.0.1", () => {
      socket.write(`POST /v2/x/blobs/uploads/?digest=${sha256(big)} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n`)
      socket.write(`${big.length.toString(16)}\r\n`)
      socket.write(big)
      socket.write("\r\n0\r\n\r\n")
    })
    socket.on("error", () => {})
    // the server stops reading at the limit and drops the connection
    await new Promise<void>((resolve) => socket.on("close", () => resolve()))
    await expect.poll(() => ingestEntries(srv.root), { timeout: 5000 }).toEqual([])
    expect(await srv.engine.store.has(sha256(big))).toBe(false)
  })

  it("logs a client that hangs up mid-upload as one line (not a 500 with a stack) and keeps no bytes under its digest", async () => {
    const data = randomBlob(512 * 1024)
    const logged = new Promise<string>((resolve) => (onLog = resolve))
    const socket = net.connect(srv.port, "127.0.0.1", () => {
      socket.write(`POST /v2/x/blobs/uploads/?digest=${sha256(data)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${data.length}\r\n\r\n`)
      socket.write(data.subarray(0, 200 * 1024), () => socket.destroy())
    })
    const line = await logged
    expect(line).toMatch(/client aborted/)
    expect(line).not.toMatch(/-> 500|\n\s+at /)
    expect(await ingestEntries(srv.root)).toEqual([])
    expect(await srv.engine.store.has(sha256(data))).toBe(false)
  })
})

describe("token realm", () => {
  it("names the bound address, not the request's Host, and honours publicUrl", async () => {
    const token = "0123456789abcdef0123"
    const srv = await startStoreServer({ token })
    try {
      const r = await request(srv.port, "GET", "/v2/", { Host: "evil.example" })
      expect(r.status).toBe(401)
      expect(r.head).toContain(`www-authenticate: bearer realm="http://127.0.0.1:${srv.port}/token",service="cairn-api"`)
    } finally {
      await srv.stop()
    }
    const tls = await startStoreServer({ token, publicUrl: "https://registry.example:5443" })
    try {
      const r = await request(tls.port, "GET", "/v2/", {})
      expect(r.head).toContain('www-authenticate: bearer realm="https://registry.example:5443/token",service="cairn-api"')
      // the public origin is the service's own origin
      expect((await request(tls.port, "GET", "/v2/", { Origin: "https://registry.example:5443", Authorization: `Bearer ${token}` })).status).toBe(200)
    } finally {
      await tls.stop()
    }
  })
})
