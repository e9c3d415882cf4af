// The bulk GET (a big blob over a connection of its own, read into pooled slabs) against real
// Node HTTP and TLS servers: every framing a server may use, the failures a pull resumes from,
// and the slabs' reuse, which must never touch bytes a reader still holds.
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls"
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net"
import { join } from "node:path"
import { giveBack, isLent } from "@cairn/digest"
import { afterEach, describe, expect, it } from "vitest"
import { bulkGet, SLAB } from "../src/bulkGet.js"
import { Transport } from "../src/index.js"
import { isNetworkCut } from "../src/retry.js"
import { tempDirs } from "./support/tempDirs.js"

const tempDir = tempDirs("cairn-bulkget-test-")
const servers: Array<Server | NetServer | TlsServer> = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})
const portOf = (s: Server | NetServer) => {
  const a = s.address()
  return typeof a === "object" && a !== null ? a.port : 0
}
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<URL> {
  const s = createServer(handler)
  servers.push(s)
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()))
  return new URL(`http://127.0.0.1:${portOf(s)}/blob`)
}
/** A server speaking raw bytes: for framings node:http will not produce. */
async function serveRaw(onRequest: (socket: Socket) => void): Promise<URL> {
  const s = createNetServer((socket) => {
    let got = ""
    socket.on("data", (d) => {
      got += d.toString("latin1")
      if (got.includes("\r\n\r\n")) {
        got = ""
        onRequest(socket)
      }
    })
    socket.on("error", () => {})
  })
  servers.push(s)
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()))
  return new URL(`http://127.0.0.1:${portOf(s)}/blob`)
}
const get = (url: URL, headers: Record<string, string> = {}, extra: { signal?: AbortSignal; idleTimeoutMs?: number; ca?: string; lend?: boolean } = {}) =>
  bulkGet(url, { headers, idleTimeoutMs: extra.idleTimeoutMs ?? 10_000, signal: extra.signal, lend: extra.lend ?? true, ...(extra.ca ? { ca: extra.ca } : {}) })

/** The body's chunks, given back as read unless `hold`. */
async function readAll(body: AsyncIterable<Buffer>, hold = false): Promise<{ bytes: Buffer; chunks: Buffer[] }> {
  const chunks: Buffer[] = []
  const copies: Buffer[] = []
  for await (const c of body) {
    expect(isLent(c)).toBe(true)
    copies.push(Buffer.from(c))
    if (hold) chunks.push(c)
    else giveBack(c)
  }
  return { bytes: Buffer.concat(copies), chunks }
}

describe("bulkGet", () => {
  it("reads a Content-Length body, a chunked one and one delimited by the connection's end, byte for byte", async () => {
    const data = randomBytes(3 * SLAB + 12345)
    const sized = await serve((req, res) => {
      expect(req.headers.connection).toBe("close")
      expect(req.headers["x-test"]).toBe("1")
      res.writeHead(200, { "content-length": String(data.length) }).end(data)
    })
    const r = await get(sized, { "x-test": "1" })
    expect(r.status).toBe(200)
    expect(r.headers["content-length"]).toBe(String(data.length))
    expect((await readAll(r.body)).bytes.equals(data)).toBe(true)

    // node:http chunks a body written in pieces without a length
    const chunked = await serve((_req, res) => {
      res.writeHead(200)
      let o = 0
      const step = () => {
        if (o >= data.length) return res.end()
        const n = 1 + ((o * 7919) % 200_000)
        res.write(data.subarray(o, o + n), step)
        o += n
      }
      step()
    })
    const c = await get(chunked)
    expect(c.headers["transfer-encoding"]).toBe("chunked")
    expect((await readAll(c.body)).bytes.equals(data)).toBe(true)

    // hand-made chunked framing: extensions, upper-case hex, a trailer, split anywhere
    const framed = Buffer.concat([
      Buffer.from("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
      Buffer.from("A;name=x\r\n"),
      data.subarray(0, 10),
      Buffer.from("\r\n1F4\r\n"),
      data.subarray(10, 510),
      Buffer.from("\r\n0\r\nx-trailer: 1\r\n\r\n")
    ])
    const raw = await serveRaw((s) => {
      // one byte at a time for the first part, so every boundary falls between reads
      let i = 0
      const drip = () => {
        if (i < 200) {
          s.write(framed.subarray(i, ++i), () => setImmediate(drip))
        } else s.end(framed.subarray(i))
      }
      drip()
    })
    const f = await get(raw)
    expect(f.status).toBe(200)
    expect((await readAll(f.body)).bytes.equals(data.subarray(0, 510))).toBe(true)

    const closeDelimited = await serveRaw((s) => s.end(Buffer.concat([Buffer.from("HTTP/1.0 200 OK\r\nServer: x\r\n\r\n"), data])))
    const e = await get(closeDelimited)
    expect(e.headers.server).toBe("x")
    expect((await readAll(e.body)).bytes.equals(data)).toBe(true)
  })

  it("fails a body that ends short as a network cut (ECONNRESET), after the bytes that came", async () => {
    const data = randomBytes(2 * SLAB)
    const url = await serveRaw((s) => s.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${data.length}\r\n\r\n`), data.subarray(0, 777_777)])))
    const r = await get(url)
    let got = 0
    const err = await (async () => {
      try {
        for await (const c of r.body as AsyncIterable<Buffer>) got += c.length
      } catch (e) {
        return e as NodeJS.ErrnoException
      }
    })()
    expect(got).toBe(777_777)
    expect(err?.code).toBe("ECONNRESET")
    expect(err?.message).toContain("after 777777 body bytes")
    expect(isNetworkCut(err)).toBe(true)

    const cutChunked = await serveRaw((s) => s.end("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nabcde\r\n"))
    await expect(readAll((await get(cutChunked)).body)).rejects.toMatchObject({ code: "ECONNRESET" })
  })

  it("refuses bad framing and header injection with errors that say what was wrong", async () => {
    const url = await serve((_req, res) => res.end("x"))
    expect(() => get(url, { "x-evil": "a\r\nhost: elsewhere" })).toThrow(/invalid character in the x-evil header/)
    const notHttp = await serveRaw((s) => s.end("SSH-2.0-OpenSSH\r\n\r\n"))
    await expect(get(notHttp)).rejects.toMatchObject({ code: "EPROTO", message: expect.stringContaining("not an HTTP/1.1 response") })
    const huge = await serveRaw((s) => s.end(`HTTP/1.1 200 OK\r\nx-pad: ${"a".repeat(70_000)}\r\n\r\n`))
    await expect(get(huge)).rejects.toMatchObject({ code: "EPROTO", message: expect.stringContaining("exceeds 65536 bytes") })
    const badChunk = await serveRaw((s) => s.end("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"))
    await expect(readAll((await get(badChunk)).body)).rejects.toMatchObject({ code: "EPROTO", message: expect.stringContaining("bad chunk size") })
    const endlessTrailer = await serveRaw((s) => {
      s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n")
      const more = () => {
        if (!s.destroyed) s.write(`x-t: ${"t".repeat(1000)}\r\n`, () => setImmediate(more))
      }
      more()
    })
    await expect(readAll((await get(endlessTrailer)).body)).rejects.toMatchObject({ code: "EPROTO", message: expect.stringContaining("trailer exceeds") })
    expect(() => get(new URL("ftp://127.0.0.1/blob"))).toThrow(/protocol ftp: is not supported/)
    const gzipped = await serveRaw((s) => s.end("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n"))
    await expect(get(gzipped)).rejects.toMatchObject({ code: "EPROTO", message: expect.stringContaining("unsupported transfer coding gzip") })
    const silent = await serveRaw((s) => s.end())
    await expect(get(silent)).rejects.toMatchObject({ code: "ECONNRESET", message: expect.stringContaining("before a response") })
  })

  it("reuses a slab only once every chunk of it is given back: held chunks keep their bytes", async () => {
    const a = randomBytes(4 * SLAB)
    const b = randomBytes(4 * SLAB)
    const url = await serve((req, res) => {
      const d = req.url === "/a" ? a : b
      res.writeHead(200, { "content-length": String(d.length) }).end(d)
    })
    // body A is held, not given back; body B, read after it and given back, must not land on A's slabs
    const first = await readAll((await get(new URL("/a", url))).body, true)
    const second = await readAll((await get(new URL("/b", url))).body)
    expect(second.bytes.equals(b)).toBe(true)
    expect(Buffer.concat(first.chunks).equals(a)).toBe(true)
    const slabsOfA = new Set(first.chunks.map((c) => c.buffer))
    // not lent (a reader that did not ask): chunks of its own, never read into again
    const own: Buffer[] = []
    for await (const c of (await get(new URL("/a", url), {}, { lend: false })).body as AsyncIterable<Buffer>) {
      expect(isLent(c)).toBe(false)
      own.push(c)
    }
    await readAll((await get(new URL("/b", url))).body)
    expect(Buffer.concat(own).equals(a)).toBe(true)
    // now A is given back: a third body is read into recycled slabs (A's or B's), and is right
    for (const c of first.chunks) giveBack(c)
    const third = await get(new URL("/b", url))
    const chunks: Buffer[] = []
    for await (const c of third.body as AsyncIterable<Buffer>) {
      chunks.push(Buffer.from(c))
      giveBack(c)
    }
    expect(Buffer.concat(chunks).equals(b)).toBe(true)
    expect(slabsOfA.size).toBeGreaterThan(1)
  })

  it("stops on the abort signal and on an idle connection", async () => {
    const url = await serveRaw((s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc"))
    const ac = new AbortController()
    const r = await get(url, {}, { signal: ac.signal })
    const reading = readAll(r.body)
    ac.abort(new Error("stop here"))
    await expect(reading).rejects.toThrow("stop here")
    const idle = await get(url, {}, { idleTimeoutMs: 200 })
    await expect(readAll(idle.body)).rejects.toMatchObject({ code: "ETIMEDOUT" })
  })

  it("speaks TLS, trusting only the CA it is given", async () => {
    const dir = tempDir()
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem"), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"], { stdio: "ignore" })
    const cert = readFileSync(join(dir, "c.pem"), "utf8")
    const data = randomBytes(SLAB + 5)
    const s = createTlsServer({ key: readFileSync(join(dir, "k.pem")), cert }, (socket) => {
      socket.once("data", () => socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${data.length}\r\n\r\n`), data])))
      socket.on("error", () => {})
    })
    servers.push(s)
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()))
    const url = new URL(`https://localhost:${portOf(s)}/blob`)
    await expect(get(url)).rejects.toMatchObject({ code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO/) })
    const r = await get(url, {}, { ca: cert })
    expect((await readAll(r.body)).bytes.equals(data)).toBe(true)
  })

  it("is what Transport uses for a GET expecting bulkMinBytes or more, and node:http below", async () => {
    const data = randomBytes(SLAB)
    const url = await serve((req, res) => {
      res.writeHead(200, { "content-length": String(data.length), "x-connection": String(req.headers.connection) }).end(data)
    })
    const t = new Transport({ bulkMinBytes: SLAB })
    try {
      const big = await t.request({ method: "GET", url, expectBytes: SLAB, lend: true })
      expect(big.header("x-connection")).toBe("close")
      expect((await readAll(big.body)).bytes.equals(data)).toBe(true)
      const small = await t.request({ method: "GET", url, expectBytes: SLAB - 1 })
      expect(small.header("x-connection")).toBe("keep-alive")
      expect((await small.bytes()).equals(data)).toBe(true)
    } finally {
      t.close()
    }
  })
})
