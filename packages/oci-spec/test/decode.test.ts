import { createHash } from "node:crypto"
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import {
  decodeConfig,
  decodeDescriptor,
  decodeDocument,
  decodeDocumentEffect,
  decodeIndex,
  decodeManifest,
  decodeOciLayout,
  EmptyJsonDescriptor,
  ImageIndex,
  OciDecodeError
} from "../src/index.js"
import { artifactExample, configExample, descriptorExample, indexExample, manifestExample, tweak } from "./specExamples.js"

const sha256 = (b: Uint8Array | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`

const failure = async (p: Promise<unknown>): Promise<OciDecodeError> => {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(OciDecodeError)
    return e as OciDecodeError
  }
  throw new Error("expected a decode failure")
}

describe("spec examples decode", () => {
  it("decodes the descriptor example", async () => {
    const d = await decodeDescriptor(JSON.stringify(descriptorExample))
    expect(d.value.size).toBe(7682)
    expect(d.value.urls).toEqual(["https://example.com/example-manifest"])
  })

  it("decodes the manifest example with config, three layers, subject and annotations", async () => {
    const d = await decodeManifest(JSON.stringify(manifestExample))
    expect(d.value.layers).toHaveLength(3)
    expect(d.value.config.size).toBe(7023)
    expect(d.value.annotations?.["com.example.key2"]).toBe("value2")
    expect(d.value.subject?.size).toBe(7682)
  })

  it("decodes the index example with two platforms", async () => {
    const d = await decodeIndex(JSON.stringify(indexExample))
    expect(d.value.manifests.map((m) => m.platform?.architecture)).toEqual(["ppc64le", "amd64"])
  })

  it("decodes the config example with history and an empty layer", async () => {
    const d = await decodeConfig(JSON.stringify(configExample))
    expect(d.value.rootfs.diff_ids).toHaveLength(2)
    expect(d.value.history?.[1]?.empty_layer).toBe(true)
    expect(d.value.config?.ExposedPorts).toEqual({ "8080/tcp": {} })
  })

  it("decodes an artifact manifest with artifactType, subject and embedded empty data", async () => {
    const d = await decodeManifest(JSON.stringify(artifactExample))
    expect(d.value.artifactType).toBe("application/vnd.example+type")
    expect(d.value.layers[0]).toEqual(EmptyJsonDescriptor)
  })

  it("decodes the oci-layout file", async () => {
    const d = await decodeOciLayout('{"imageLayoutVersion":"1.0.0"}')
    expect(d.value.imageLayoutVersion).toBe("1.0.0")
  })
})

describe("real-world leniency", () => {
  it("accepts the nulls Docker writes for empty config fields", async () => {
    const text = tweak(configExample, (c) => {
      c.config.Entrypoint = null
      c.config.Volumes = null
      c.config.OnBuild = null
      c.config.Healthcheck = { Test: ["CMD", "true"] }
    })
    const d = await decodeConfig(text)
    expect(d.value.config?.Entrypoint).toBeNull()
    expect((d.value.config as Record<string, unknown>).Healthcheck).toEqual({ Test: ["CMD", "true"] })
  })
})

describe("Effect API", () => {
  it("decodes through decodeDocumentEffect and fails with a typed OciDecodeError", async () => {
    const ok = await Effect.runPromise(decodeDocumentEffect("index", JSON.stringify(indexExample)))
    expect(ok.value.manifests).toHaveLength(2)
    const bad = await Effect.runPromise(
      decodeDocumentEffect("index", "{").pipe(
        Effect.flip,
        Effect.map((e) => [e._tag, e.offset])
      )
    )
    expect(bad).toEqual(["OciDecodeError", 1])
  })
})

describe("raw bytes and digest", () => {
  it("keeps the exact bytes and digests them without re-serializing", async () => {
    const text = JSON.stringify(manifestExample, null, 3) + "\n"
    const bytes = new TextEncoder().encode(text)
    const d = await decodeManifest(bytes)
    expect(d.bytes).toBe(bytes)
    expect(d.digest).toBe(sha256(text))
    expect(d.size).toBe(bytes.length)
  })

  it("digests with sha512 on request", async () => {
    const d = await decodeOciLayout('{"imageLayoutVersion":"1.0.0"}', { algorithm: "sha512" })
    expect(d.digest).toMatch(/^sha512:[0-9a-f]{128}$/)
  })
})

describe("unknown fields", () => {
  it("survives a Schema encode of the decoded value", async () => {
    const text = tweak(indexExample, (i) => {
      i.manifests[0].platform["os.x"] = "y"
      i.vendor = [true]
    })
    const d = await decodeIndex(text)
    expect(Schema.encodeSync(ImageIndex)(d.value)).toEqual(JSON.parse(text))
  })

  it("keeps unknown fields at every level", async () => {
    const text = tweak(manifestExample, (m) => {
      m["com.example.top"] = { nested: [1, 2] }
      m.layers[1].extra = "x"
      m.config.future = true
      m.subject.platform = { os: "linux", architecture: "amd64", "os.x": "y" }
    })
    const d = await decodeManifest(text)
    const v = d.value as Record<string, unknown>
    expect(v["com.example.top"]).toEqual({ nested: [1, 2] })
    expect((d.value.layers[1] as Record<string, unknown>).extra).toBe("x")
    expect((d.value.config as Record<string, unknown>).future).toBe(true)
    expect(JSON.parse(JSON.stringify(d.value))).toEqual(JSON.parse(text))
  })
})

describe("errors", () => {
  const cases: Array<[string, "manifest" | "index" | "config" | "descriptor", string, string]> = [
    [
      "an invalid layer digest",
      "manifest",
      tweak(manifestExample, (m) => (m.layers[2].digest = "sha256:abc")),
      'layers[2].digest: expected sha256:<64 hex>, got "sha256:abc"'
    ],
    [
      "an uppercase sha512 digest",
      "manifest",
      tweak(manifestExample, (m) => (m.config.digest = `sha512:${"A".repeat(128)}`)),
      `config.digest: expected sha512:<128 hex>, got "sha512:${"A".repeat(69)}...`
    ],
    [
      "an unsupported digest algorithm",
      "manifest",
      tweak(manifestExample, (m) => (m.config.digest = "md5:d41d8cd98f00b204e9800998ecf8427e")),
      'config.digest: expected a digest with a supported algorithm (sha256:<64 hex> or sha512:<128 hex>), got "md5:d41d8cd98f00b204e9800998ecf8427e"'
    ],
    ["schemaVersion 1", "manifest", tweak(manifestExample, (m) => (m.schemaVersion = 1)), "schemaVersion: expected 2, got 1"],
    ["schemaVersion \"2\"", "index", tweak(indexExample, (m) => (m.schemaVersion = "2")), 'schemaVersion: expected 2, got "2"'],
    ["a negative size", "manifest", tweak(manifestExample, (m) => (m.layers[0].size = -1)), "layers[0].size: expected a non-negative safe integer, got -1"],
    ["a fractional size", "descriptor", tweak(descriptorExample, (d) => (d.size = 1.5)), "size: expected a non-negative safe integer, got 1.5"],
    ["an unsafe-integer size", "descriptor", tweak(descriptorExample, (d) => (d.size = 2 ** 53)), "size: expected a non-negative safe integer, got 9007199254740992"],
    ["a size given as a string", "descriptor", tweak(descriptorExample, (d) => (d.size = "12")), 'size: expected number, got "12"'],
    ["a missing config", "manifest", tweak(manifestExample, (m) => delete m.config), "config: expected a value (required field), got nothing"],
    [
      "an index decoded as a manifest",
      "manifest",
      JSON.stringify(indexExample),
      'mediaType: expected "application/vnd.oci.image.manifest.v1+json", got "application/vnd.oci.image.index.v1+json"'
    ],
    [
      "a manifest decoded as an index",
      "index",
      JSON.stringify(manifestExample),
      'mediaType: expected "application/vnd.oci.image.index.v1+json", got "application/vnd.oci.image.manifest.v1+json"'
    ],
    [
      "an index without mediaType decoded as a manifest",
      "manifest",
      tweak(indexExample, (m) => delete m.mediaType),
      "manifest: expected an image manifest (config, layers), got an image index (manifests)"
    ],
    [
      "a manifest without mediaType decoded as an index",
      "index",
      tweak(manifestExample, (m) => delete m.mediaType),
      "index: expected an image index (manifests), got an image manifest (config, layers)"
    ],
    ["a wrong rootfs type", "config", tweak(configExample, (c) => (c.rootfs.type = "tarballs")), 'rootfs.type: expected "layers", got "tarballs"'],
    ["a bad diff_id", "config", tweak(configExample, (c) => (c.rootfs.diff_ids[1] = "sha256:xyz")), 'rootfs.diff_ids[1]: expected sha256:<64 hex>, got "sha256:xyz"'],
    ["a non-string label", "config", tweak(configExample, (c) => (c.config.Labels["a.b"] = 1)), 'config.Labels["a.b"]: expected string, got 1'],
    ["empty_layer as a string", "config", tweak(configExample, (c) => (c.history[1].empty_layer = "yes")), 'history[1].empty_layer: expected boolean, got "yes"'],
    ["a missing platform os", "index", tweak(indexExample, (i) => delete i.manifests[1].platform.os), "manifests[1].platform.os: expected a value (required field), got nothing"],
    ["an artifactType that is not a media type", "manifest", tweak(artifactExample, (m) => (m.artifactType = "")), 'artifactType: expected a media type (type/subtype, RFC 6838), got ""'],
    ["a media type without subtype", "descriptor", tweak(descriptorExample, (d) => (d.mediaType = "application")), 'mediaType: expected a media type (type/subtype, RFC 6838), got "application"'],
    ["an array document", "manifest", "[]", "manifest: expected object, got []"],
    ["data that is not base64", "descriptor", tweak(descriptorExample, (d) => (d.data = "e30")), 'data: expected base64 (RFC 4648), got "e30"'],
    [
      "data whose length differs from size",
      "descriptor",
      tweak(EmptyJsonDescriptor, (d) => (d.size = 3)),
      'data: expected base64 of 3 bytes (size), it decodes to 2 bytes, got "e30="'
    ],
    [
      "data whose digest differs",
      "manifest",
      tweak(artifactExample, (m) => (m.layers[0].data = "W10=")),
      "layers[0].data: expected data hashing to sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a, got data hashing to sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
    ]
  ]
  for (const [what, kind, text, message] of cases) {
    it(`rejects ${what}`, async () => {
      const e = await failure(decodeDocument(kind, text))
      expect(e.message).toBe(message)
      expect(e.document).toBe(kind)
    })
  }

  it("reports malformed JSON with its byte offset", async () => {
    const e = await failure(decodeManifest('{"schemaVersion": 2, "é": }'))
    expect(e.path).toBe("")
    expect(e.offset).toBe(27)
    expect(e.message).toMatch(/^manifest: expected well-formed JSON, got a syntax error at byte 27/)
  })

  it("locates the first syntax error of assorted broken documents", async () => {
    const cases: Array<[string, number]> = [
      ['{"a":1', 6],
      ['{"a":1}x', 7],
      ['{"a" 1}', 5],
      ["", 0],
      ['{"a":"\\u0001\\q"}', 13],
      ['{"a":01}', 6],
      ['{"a":tru}', 8],
      ['{"a":[1,]}', 8],
      ['{"a":"\\u00zz"}', 10]
    ]
    for (const [text, offset] of cases) {
      const e = await failure(decodeManifest(text))
      expect([text, e.offset]).toEqual([text, offset])
    }
  })

  it("rejects invalid UTF-8", async () => {
    const e = await failure(decodeManifest(new Uint8Array([0x7b, 0xff, 0x7d])))
    expect(e.message).toBe("manifest: expected UTF-8 JSON, got invalid UTF-8")
  })

  it("exposes the fields a caller needs", async () => {
    const e = await failure(decodeManifest(tweak(manifestExample, (m) => (m.layers[2].digest = "sha256:abc"))))
    expect(e._tag).toBe("OciDecodeError")
    expect(e.path).toBe("layers[2].digest")
    expect(e.expected).toBe("sha256:<64 hex>")
    expect(e.actual).toBe('"sha256:abc"')
  })
})
