// A loopback HTTP proxy in front of a registry that injects faults per request and counts
// the body bytes it sends, so tests can tell exactly what crossed the "network".
import { createServer, type IncomingHttpHeaders, request, type Server, type ServerResponse } from "node:http"

export interface SeenRequest {
  readonly method: string
  readonly path: string
  readonly headers: IncomingHttpHeaders
  /** body bytes this proxy sent back */
  sent: number
}

export type Fault =
  | { readonly kind: "status"; readonly status: number; readonly headers?: Record<string, string> }
  | { readonly kind: "reset" }
  | { readonly kind: "cut"; readonly after: number }
  | { readonly kind: "contentLength"; readonly value: number }
  | { readonly kind: "header"; readonly name: string; readonly value: string }
  | { readonly kind: "corrupt"; readonly at: number }
  | { readonly kind: "dropRange" }
  | { readonly kind: "redirect"; readonly location: string }
  | { readonly kind: "body"; readonly body: Buffer; readonly headers: Record<string, string> }
  | { readonly kind: "delay"; readonly ms: number }
  | { readonly kind: "cutRequest"; readonly after: number }
  /** send the first `after` body bytes, then nothing more until `until` settles */
  | { readonly kind: "hold"; readonly after: number; readonly until: Promise<unknown> }

export interface FaultProxy {
  readonly host: string
  readonly seen: SeenRequest[]
  /** delayed requests in progress now, and the most there ever were at once */
  readonly inFlight: { now: number; peak: number }
  /** the rule consulted for each request; return undefined to pass it through untouched */
  rule: (req: SeenRequest, index: number) => Fault | undefined
  close(): Promise<void>
}

export async function startFaultProxy(target: string, bind = "127.0.0.1"): Promise<FaultProxy> {
  const seen: SeenRequest[] = []
  const proxy: FaultProxy = {
    host: "",
    seen,
    inFlight: { now: 0, peak: 0 },
    rule: () => undefined,
    close: () => new Promise((r) => server.close(() => r()))
  }
  const server: Server = createServer((req, res) => {
    const s: SeenRequest = { method: req.method ?? "GET", path: req.url ?? "/", headers: req.headers, sent: 0 }
    seen.push(s)
    const fault = proxy.rule(s, seen.length - 1)
    if (fault?.kind === "delay") {
      proxy.inFlight.now++
      proxy.inFlight.peak = Math.max(proxy.inFlight.peak, proxy.inFlight.now)
      res.once("close", () => proxy.inFlight.now--)
    }
    if (fault?.kind === "status") {
      req.resume()
      res.writeHead(fault.status, { "content-type": "application/json", ...fault.headers })
      res.end(JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "injected" }] }))
      return
    }
    if (fault?.kind === "reset") {
      req.socket.destroy()
      return
    }
    if (fault?.kind === "redirect") {
      req.resume()
      res.writeHead(307, { location: fault.location, "content-length": "0" }).end()
      return
    }
    if (fault?.kind === "body") {
      req.resume()
      res.writeHead(200, fault.headers)
      s.sent += fault.body.length
      res.end(fault.body)
      return
    }
    if (fault?.kind === "delay") {
      setTimeout(() => forward(undefined), fault.ms)
      return
    }
    forward(fault)
    function forward(fault: Fault | undefined) {
    // keep the client's Host: the registry builds upload Locations from it, so they point here
    const headers = { ...req.headers }
    if (fault?.kind === "dropRange") delete headers.range
    const up = request(`http://${target}${req.url}`, { method: req.method, headers }, (ures) => {
      const out = { ...ures.headers }
      if (fault?.kind === "contentLength") out["content-length"] = String(fault.value)
      if (fault?.kind === "header") out[fault.name] = fault.value
      res.writeHead(ures.statusCode ?? 502, out)
      pump(ures, res, s, fault).catch(() => res.destroy())
    })
    up.on("error", () => res.destroy())
    if (fault?.kind === "cutRequest") {
      // forward part of the request body (the registry's session gets it), then drop both sides
      let got = 0
      req.on("data", (c: Buffer) => {
        if (got >= fault.after) return
        const part = c.subarray(0, fault.after - got)
        got += part.length
        up.write(part)
        if (got >= fault.after) {
          setTimeout(() => {
            up.destroy()
            req.socket.destroy()
          }, 50)
        }
      })
      return
    }
    req.pipe(up)
    }
  })
  await new Promise<void>((r) => server.listen(0, bind, () => r()))
  const a = server.address()
  ;(proxy as { host: string }).host = `${bind}:${typeof a === "object" && a !== null ? a.port : 0}`
  return proxy
}

async function pump(from: AsyncIterable<Buffer>, res: ServerResponse, s: SeenRequest, fault: Fault | undefined) {
  let held = false
  for await (let chunk of from) {
    if (fault?.kind === "hold" && !held && s.sent + chunk.length >= fault.after) {
      held = true
      const part = chunk.subarray(0, fault.after - s.sent)
      s.sent += part.length
      await new Promise<void>((r) => res.write(part, () => r()))
      await fault.until.catch(() => undefined)
      chunk = chunk.subarray(part.length)
    }
    if (fault?.kind === "corrupt" && fault.at >= s.sent && fault.at < s.sent + chunk.length) {
      chunk = Buffer.from(chunk)
      chunk[fault.at - s.sent]! ^= 0xff
    }
    if (fault?.kind === "cut" && s.sent + chunk.length >= fault.after) {
      const part = chunk.subarray(0, fault.after - s.sent)
      s.sent += part.length
      // let the bytes reach the client, then drop the connection mid-body
      await new Promise<void>((r) => res.write(part, () => r()))
      await new Promise((r) => setTimeout(r, 100))
      res.socket?.destroy()
      return
    }
    s.sent += chunk.length
    if (!res.write(chunk)) await new Promise<void>((r) => res.once("drain", () => r()))
  }
  if (fault?.kind === "contentLength") {
    // a Content-Length that promised more than came: close instead of finishing the response
    res.socket?.destroy()
    return
  }
  res.end()
}

/** A stand-in for blob storage on another host: records the Authorization it was sent. */
export async function startBlobStore(bind: string, blobs: Map<string, Buffer>): Promise<{ origin: string; authorizations: Array<string | undefined>; close(): Promise<void> }> {
  const authorizations: Array<string | undefined> = []
  const server = createServer((req, res) => {
    authorizations.push(req.headers.authorization)
    const b = blobs.get(decodeURIComponent((req.url ?? "").replace(/^\/blob\//, "")))
    if (b === undefined) return res.writeHead(404).end()
    res.writeHead(200, { "content-length": String(b.length), "content-type": "application/octet-stream" }).end(b)
  })
  await new Promise<void>((r) => server.listen(0, bind, () => r()))
  const a = server.address()
  return {
    origin: `http://${bind}:${typeof a === "object" && a !== null ? a.port : 0}`,
    authorizations,
    close: () => new Promise((r) => server.close(() => r()))
  }
}
