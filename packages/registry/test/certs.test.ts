// A registry behind TLS with a private CA (#18: per-host TLS settings and CA files): docker-registry
// serving a certificate our own CA signed, trusted through containers-certs.d(5) (`DIR/HOST:PORT/*.crt`)
// and refused without it.
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { networkInterfaces, tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { certsFor, pullImage, pushImage, RegistryClient, staticCredentials } from "../src/index.js"
import { DirSink } from "./support/dirSink.js"
import { makeImage, randomFile } from "./support/image.js"
import { haveOpenssl, haveRegistry, type RunningRegistry, startRegistry } from "./support/registryServer.js"

// a non-loopback address of this machine: cairn speaks plain HTTP to loopback registries
const address = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && a.family === "IPv4" && !a.internal)?.address
const skip = !haveRegistry ? "docker-registry is missing" : !haveOpenssl ? "openssl is missing" : address === undefined ? "no non-loopback IPv4 address" : undefined
if (skip) console.warn(`skipping the private-CA registry test: ${skip}`)

describe.skipIf(skip !== undefined)("a TLS registry with a private CA", () => {
  let dir: string
  let reg: RunningRegistry
  let certsD: string
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cairn-certs-"))
    const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" })
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=cairn test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", `/CN=${address}`)
    writeFileSync(join(dir, "san.ext"), `subjectAltName=IP:${address}\n`)
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    reg = await startRegistry({}, { bind: address!, certFile: join(dir, "server.crt"), keyFile: join(dir, "server.key") })
    certsD = join(dir, "certs.d")
    mkdirSync(join(certsD, reg.host), { recursive: true })
    execFileSync("cp", [join(dir, "ca.crt"), join(certsD, reg.host, "ca.crt")])
  }, 60_000)
  afterAll(async () => {
    await reg?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("certsFor reads the host's *.crt files from the first directory that has them", () => {
    expect(certsFor([join(dir, "none"), certsD], reg.host)).toHaveLength(1)
    expect(certsFor([certsD], "other:5000")).toEqual([])
  })

  it("is refused without the CA and pushed to and pulled from with it", async () => {
    const img = makeImage([{ "etc/motd": "over TLS\n", "bin/x": randomFile(100_000) }])
    const ref = `${reg.host}/tls/app:v1`
    const untrusting = new RegistryClient({ credentials: staticCredentials({}), transport: { certsDirs: [], retry: { attempts: 1 } } })
    try {
      await expect(pushImage(untrusting, img.source, img.manifest.digest, ref)).rejects.toThrow(/UNABLE_TO_VERIFY|CERT/)
    } finally {
      untrusting.close()
    }
    // bulkMinBytes 0: the blobs come over bulkGet's own TLS connections, trusting the same CA
    const client = new RegistryClient({ credentials: staticCredentials({}), transport: { certsDirs: [certsD], bulkMinBytes: 0 } })
    try {
      expect((await pushImage(client, img.source, img.manifest.digest, ref)).digest).toBe(img.manifest.digest)
      const sink = new DirSink(join(dir, "pulled"))
      const pulled = await pullImage(client, ref, sink)
      expect(pulled.digest).toBe(img.manifest.digest)
      expect(pulled.blobs).toHaveLength(2)
    } finally {
      client.close()
    }
  }, 60_000)
})
