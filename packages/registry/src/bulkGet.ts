// A GET of a big body (a layer blob) over a connection of its own, read straight into pooled
// 1 MiB slabs: the socket's `onread` reads into the free end of the current slab, and the body
// yields the bytes where they landed. For a reader that asks (`lend`: the store's ingest, through
// a sink that accepts lent chunks), each chunk is lent (@cairn/digest `lend`) and given back once
// hashed and written, and its slab is read into again; any other reader gets chunks of its own,
// and their slabs are left to the collector. node:http allocates a fresh buffer for
// every read of the socket and leaves them to the garbage collector: in a 945 MB pull that churn,
// with its page faults and collections, cost about as much CPU as the receiving itself, on a
// machine where the CPU is what bounds the pull. Small requests keep node:http and its keep-alive.
//
// HTTP/1.1 as a client that sends `Connection: close` needs it: a status line and headers, then a
// body delimited by Content-Length, by chunked transfer coding, or by the end of the connection.
// A body that ends early fails with ECONNRESET, which the blob pull resumes from.
import { isIP, connect as netConnect, type Socket } from "node:net"
import { Readable } from "node:stream"
import { type ConnectionOptions, connect as tlsConnect, type SecureContextOptions } from "node:tls"
import { lend } from "@cairn/digest"

/** One slab's size: one read lands in one slab, and the store writes a slab in one writev. */
export const SLAB = 1 << 20
/** A slab with less than this left is retired: reads stay big. */
const MIN_READ = 64 << 10
/** Slabs kept for reuse, per process (16 MiB). */
const POOL_MAX = 16
/** The status line and headers, at most. */
const HEAD_MAX = 64 << 10
/** Body chunks a reader may have waiting before the socket pauses. */
const QUEUED = 8

const pool: Buffer[] = []
const takeSlab = (): Buffer => pool.pop() ?? Buffer.allocUnsafeSlow(SLAB)

/** A slab being read into, with its chunks still out. */
class Slab {
  readonly buf = takeSlab()
  fill = 0
  /** chunks lent and not given back */
  private out = 0
  private retired = false
  /** false: its chunks are the reader's own, and it never goes back to the pool */
  constructor(private readonly lending: boolean) {}
  lendChunk(start: number, end: number): Buffer {
    if (!this.lending) return this.buf.subarray(start, end)
    this.out++
    // giveBack calls this once per chunk
    return lend(this.buf.subarray(start, end), () => {
      this.out--
      this.recycle()
    })
  }
  /** No more reads into it: it goes back to the pool once every chunk is given back. */
  retire(): void {
    this.retired = true
    this.recycle()
  }
  private recycle() {
    if (this.lending && this.retired && this.out === 0 && pool.length < POOL_MAX) {
      this.out = -1
      pool.push(this.buf)
    }
  }
}

export interface BulkResponse {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: Readable
}

export interface BulkGetOptions {
  readonly headers: Readonly<Record<string, string>>
  readonly signal?: AbortSignal | undefined
  readonly idleTimeoutMs: number
  /** the TLS trust for https (undefined: the system's) */
  readonly ca?: SecureContextOptions["ca"]
  /**
   * Lend the body's chunks: each is read into again once given back (@cairn/digest `giveBack`).
   * Only for a reader that gives every chunk back and keeps none after.
   */
  readonly lend?: boolean
}

const badHeader = /[\r\n\0]/
const connectionError = (message: string, code = "ECONNRESET") => Object.assign(new Error(message), { code })

/** GET `url` (http: or https:) on a connection of its own; resolves once the response head is in. */
export function bulkGet(url: URL, options: BulkGetOptions): Promise<BulkResponse> {
  // a redirect may name anything: only HTTP goes out (node:http refuses the rest the same way)
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError(`protocol ${url.protocol} is not supported (${url.href})`)
  const secure = url.protocol === "https:"
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
  const port = Number(url.port || (secure ? 443 : 80))
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`
  for (const [k, v] of Object.entries(options.headers)) {
    if (k === "host" || k === "connection") continue
    if (badHeader.test(k) || badHeader.test(v)) throw new TypeError(`invalid character in the ${k} header`)
    head += `${k}: ${v}\r\n`
  }
  head += "connection: close\r\n\r\n"

  return new Promise<BulkResponse>((resolve, reject) => {
    options.signal?.throwIfAborted()
    let slab = new Slab(options.lend === true)
    // the response head as it arrives, then the body's framing state
    let headText = ""
    let response: BulkResponse | undefined
    let body: Readable | undefined
    /** body bytes still to come (Content-Length), or undefined */
    let remaining: number | undefined
    let received = 0
    let chunked: ChunkedDecoder | undefined
    let finished = false

    const finish = () => {
      if (finished) return
      finished = true
      body?.push(null)
      socket.destroy()
    }
    const fail = (e: Error) => {
      if (finished) return
      finished = true
      socket.destroy()
      if (body) body.destroy(e)
      else reject(e)
    }
    const deliver = (start: number, end: number) => {
      if (end <= start || finished || body === undefined) return
      if (remaining !== undefined) end = Math.min(end, start + remaining)
      received += end - start
      if (remaining !== undefined) remaining -= end - start
      if (!body.push(slab.lendChunk(start, end))) socket.pause()
      if (remaining === 0) finish()
    }
    /** the head ends at `at` in headText: parse it, set up the body; false when it was a 1xx */
    const onHead = (at: number): boolean => {
      const lines = headText.slice(0, at).split("\r\n")
      const status = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? "")
      if (!status) throw connectionError(`not an HTTP/1.1 response from ${url.host}: ${JSON.stringify((lines[0] ?? "").slice(0, 80))}`, "EPROTO")
      const code = Number(status[1])
      if (code >= 100 && code < 200) return false
      const headers: Record<string, string> = {}
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":")
        if (colon <= 0) continue
        const k = line.slice(0, colon).trim().toLowerCase()
        const v = line.slice(colon + 1).trim()
        headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`
      }
      const te = headers["transfer-encoding"]?.toLowerCase()
      if (code === 204 || code === 304) remaining = 0
      else if (te !== undefined && te !== "identity") {
        if (te.split(",").map((s) => s.trim()).pop() !== "chunked") throw connectionError(`unsupported transfer coding ${te} from ${url.host}`, "EPROTO")
        chunked = new ChunkedDecoder()
      } else if (headers["content-length"] !== undefined) {
        const n = Number(headers["content-length"])
        if (!Number.isSafeInteger(n) || n < 0) throw connectionError(`bad Content-Length ${headers["content-length"]} from ${url.host}`, "EPROTO")
        remaining = n
      }
      body = new Readable({
        objectMode: true,
        highWaterMark: QUEUED,
        read: () => socket.resume(),
        destroy: (e, cb) => {
          finished = true
          socket.destroy()
          cb(e)
        }
      })
      // a reader may start a while later (the sink takes its lock first): a failure before then
      // stays on the stream for it, not an uncaught 'error' event
      body.on("error", () => {})
      response = { status: code, headers, body }
      return true
    }
    /** bytes [start, end) of the slab just arrived */
    const onBytes = (start: number, end: number) => {
      if (body === undefined) {
        // copy the head out (latin1: one char per byte) until its blank line
        let before = headText.length
        headText += slab.buf.toString("latin1", start, end)
        for (;;) {
          const at = headText.indexOf("\r\n\r\n")
          if ((at < 0 ? headText.length : at) > HEAD_MAX) throw connectionError(`the response head from ${url.host} exceeds ${HEAD_MAX} bytes`, "EPROTO")
          if (at < 0) return
          const bodyStart = start + (at + 4 - before)
          if (onHead(at)) {
            resolve(response!)
            if (remaining === 0) finish()
            start = bodyStart
            break
          }
          // an interim 1xx response: the real one follows
          headText = headText.slice(at + 4)
          start = bodyStart
          before = 0
          if (headText.length === 0) return
        }
      }
      if (chunked === undefined) deliver(start, end)
      else {
        const ranges = chunked.feed(slab.buf, start, end)
        for (let k = 0; k < ranges.length; k += 2) deliver(ranges[k]!, ranges[k + 1]!)
        if (chunked.done) finish()
      }
    }

    const onread = {
      buffer: () => {
        if (SLAB - slab.fill < MIN_READ) {
          slab.retire()
          slab = new Slab(options.lend === true)
        }
        return slab.buf.subarray(slab.fill)
      },
      callback: (n: number) => {
        const start = slab.fill
        slab.fill += n
        try {
          onBytes(start, slab.fill)
        } catch (e) {
          fail(e as Error)
        }
        return true
      }
    }
    const socket: Socket = secure
      ? // onread works on TLS sockets as on net ones (the TLS options' type does not list it)
        tlsConnect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ALPNProtocols: ["http/1.1"], ...(options.ca === undefined ? {} : { ca: options.ca }), onread } as ConnectionOptions)
      : netConnect({ host, port, onread })
    socket.setNoDelay(true)
    socket.once(secure ? "secureConnect" : "connect", () => socket.write(head))
    socket.setTimeout(options.idleTimeoutMs, () => fail(connectionError("socket idle timeout", "ETIMEDOUT")))
    socket.on("error", (e) => fail(e))
    socket.on("end", () => {
      if (body !== undefined && remaining === undefined && chunked === undefined) finish()
      else if (body === undefined) fail(connectionError(`${url.host} closed the connection before a response`))
      else fail(connectionError(`the connection closed after ${received} body bytes${remaining === undefined ? "" : `, ${remaining} short`}`))
    })
    socket.on("close", () => {
      slab.retire()
      if (!finished) fail(connectionError(`the connection to ${url.host} closed`))
    })
    const signal = options.signal
    if (signal) {
      const onAbort = () => fail(signal.reason ?? new Error("the request was aborted"))
      signal.addEventListener("abort", onAbort, { once: true })
      socket.once("close", () => signal.removeEventListener("abort", onAbort))
    }
  })
}

/**
 * Chunked transfer coding (RFC 9112 7.1) over the bytes as they arrive: gives the data ranges,
 * skipping sizes, extensions, CRLFs and trailers, without copying the data.
 */
class ChunkedDecoder {
  done = false
  /** data bytes left in the current chunk */
  private left = 0
  /** what is being read: a size line, the CRLF after data, or the trailer lines */
  private state: "size" | "data" | "crlf" | "trailer" = "size"
  private line = ""
  /** bytes of trailer lines so far: a server may not send them forever */
  private trailer = 0

  /** The data ranges among bytes [start, end) of `buf`, in order: [start0, end0, start1, end1, ...]. */
  feed(buf: Buffer, start: number, end: number): number[] {
    const out: number[] = []
    let i = start
    while (i < end && !this.done) {
      if (this.state === "data") {
        const n = Math.min(this.left, end - i)
        out.push(i, i + n)
        i += n
        this.left -= n
        if (this.left === 0) this.state = "crlf"
        continue
      }
      // a line: up to LF
      const lf = buf.indexOf(10, i)
      const stop = lf < 0 || lf >= end ? end : lf
      this.line += buf.toString("latin1", i, stop)
      if (this.line.length > 4096) throw connectionError("a chunked body's framing line exceeds 4096 bytes", "EPROTO")
      i = stop
      if (stop === end) break
      i++ // past LF
      const line = this.line.endsWith("\r") ? this.line.slice(0, -1) : this.line
      this.line = ""
      if (this.state === "crlf") {
        if (line !== "") throw connectionError("a chunk's data is not followed by CRLF", "EPROTO")
        this.state = "size"
      } else if (this.state === "size") {
        const hex = line.split(";")[0]!.trim()
        if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw connectionError(`bad chunk size ${JSON.stringify(hex.slice(0, 20))}`, "EPROTO")
        this.left = Number.parseInt(hex, 16)
        this.state = this.left === 0 ? "trailer" : "data"
      } else if (line === "") this.done = true
      else if ((this.trailer += line.length + 2) > HEAD_MAX) throw connectionError(`a chunked body's trailer exceeds ${HEAD_MAX} bytes`, "EPROTO")
    }
    return out
  }
}
