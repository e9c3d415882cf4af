import { describe, expect, it } from "vitest"
// @ts-expect-error: plain JS module of the scoreboard
import { hashAnalysis, targetBounds } from "../src/results.mjs"

// A scoreboard result with just what the bound arithmetic reads: the kernel rates (hash table),
// the libs extraction table with its floors, the pull table with its receive floor, the corpus sizes.
const MB = 1e6
const kernel = (id: string, rate: number) => ({ id, label: id, kind: "cairn", medianS: 1, metrics: { mbPerCpuS: rate, firstMiBMBps: rate }, metricRuns: { mbPerCpuS: [rate, rate, rate], firstMiBMBps: [rate, rate, rate] } })
const timed = (id: string, medianS: number, cpuS: number, workMedianS = medianS) => ({ id, label: id, kind: "x", medianS, workMedianS, userS: cpuS, sysS: 0 })
function result(o: { tarXzf: number; cairnWasm: number; cairnCpu: number; skopeo: number; receiveCpu: number }) {
  return {
    machine: { cores: 2 },
    corpus: {
      corpora: {
        libs: { tarBytes: 600 * MB, compressedBytes: 200 * MB },
        small: { tarBytes: 100 * MB, compressedBytes: 50 * MB },
        pull: { compressedBytes: 250 * MB, tarBytes: 700 * MB, parts: ["libs", "small"] }
      }
    },
    tables: [
      { id: "hash", rows: [kernel("kernel-wasm", 400), kernel("kernel-node", 1600)] },
      {
        id: "extract-libs",
        corpus: "libs",
        rows: [timed("cairn-wasm", o.cairnWasm, o.cairnCpu, o.cairnWasm - 0.2), timed("cairn-node", 3, 4), timed("tar-xzf", o.tarXzf, 5), timed("umoci", 4.5, 6), timed("node-gunzip", 1.5, 1.5), timed("tar-xf", 0.6, 0.6)]
      },
      { id: "extract-small", corpus: "small", rows: [timed("cairn-wasm", 2, 3), timed("tar-xzf", 2, 2), timed("node-gunzip", 0.4, 0.4), timed("tar-xf", 0.5, 0.5)] },
      { id: "startup", rows: [timed("node", 0.1, 0.1)] },
      { id: "pull", corpus: "pull", rows: [timed("cairn-pull", 4, 6, 3.8), timed("skopeo", o.skopeo, 3), timed("receive", 0.5, o.receiveCpu)] },
      { id: "pull-unpack", corpus: "pull", rows: [timed("cairn-pull-unpack", 6, 10, 5.7), timed("skopeo-umoci", 8, 9)] }
    ]
  }
}

describe("the bound arithmetic of issue 13's ratio targets", () => {
  it("adds up the least CPU from the run's own floors and sets the floor against what the target allows", () => {
    const b = targetBounds(result({ tarXzf: 4.5, cairnWasm: 4, cairnCpu: 6.5, skopeo: 3, receiveCpu: 1 }))
    const libsTar = b.find((x: { table: string; peer: string }) => x.table === "extract-libs" && x.peer === "tar-xzf")
    // both digests: 800 MB at 400 MB/s = 2 s; + gunzip 1.5 less node's start-up 0.1 + writes 0.6 = 4.0 s of CPU
    expect(libsTar.essentialCpuS).toBeCloseTo(4.0, 6)
    // the diffID chain alone: 600 MB / 400 = 1.5 s; over two cores 2.0 s; + start-up 0.2
    expect(libsTar.chainS).toBeCloseTo(1.5, 6)
    expect(libsTar.floorS).toBeCloseTo(2.2, 6)
    expect(libsTar.needS).toBeCloseTo(4.5 / 1.3, 6)
    expect(libsTar.reachable).toBe(true)
    // the native hasher's target uses node:crypto's kernel rate: 800 / 1600 = 0.5 s of hashing
    const native = b.find((x: { cairn: string }) => x.cairn === "cairn-node")
    expect(native.essentialCpuS).toBeCloseTo(0.5 + 1.4 + 0.6, 6)
    // the pull: 250 MB hashed (0.625 s) + receive 1 s less node's start-up; the largest blob (200 MB) is one chain of 0.5 s
    const pull = b.find((x: { table: string }) => x.table === "pull")
    expect(pull.essentialCpuS).toBeCloseTo(250 / 400 + 0.9, 6)
    expect(pull.chainS).toBeCloseTo(0.5, 6)
    expect(pull.floorS).toBeCloseTo((250 / 400 + 0.9) / 2 + 0.2, 6)
  })

  it("counts the registry's CPU while the receive-only baseline ran in the pull's least work, when the run recorded it", () => {
    const r = result({ tarXzf: 4.5, cairnWasm: 4, cairnCpu: 6.5, skopeo: 3, receiveCpu: 1 })
    const pullTable = r.tables.find((t) => t.id === "pull") as { rows: Array<Record<string, unknown>> }
    pullTable.rows = pullTable.rows.map((x) => (x.id === "receive" ? { ...x, serverS: 0.4 } : x))
    const b = targetBounds(r)
    const pull = b.find((x: { table: string }) => x.table === "pull")
    // 0.625 hashed + 0.9 received + 0.4 sent by the registry, on the same two cores
    expect(pull.essentialCpuS).toBeCloseTo(250 / 400 + 0.9 + 0.4, 6)
    expect(pull.floorS).toBeCloseTo((250 / 400 + 0.9 + 0.4) / 2 + 0.2, 6)
    expect(pull.parts.join("; ")).toContain("the registry sending them 0.40 s")
    // pull + unpack is served by the same registry
    const pu = b.find((x: { table: string }) => x.table === "pull-unpack")
    const without = targetBounds(result({ tarXzf: 4.5, cairnWasm: 4, cairnCpu: 6.5, skopeo: 3, receiveCpu: 1 })).find((x: { table: string }) => x.table === "pull-unpack")
    expect(pu.essentialCpuS - without.essentialCpuS).toBeCloseTo(0.4, 6)
  })

  it("counts storing the blobs durably (the dd baseline's machine CPU, writeback included) in both pulls, and reports the machine's CPU of cairn's and the peer's runs", () => {
    const r = result({ tarXzf: 4.5, cairnWasm: 4, cairnCpu: 6.5, skopeo: 3, receiveCpu: 1 })
    const pullTable = r.tables.find((t) => t.id === "pull") as { rows: Array<Record<string, unknown>> }
    // dd's own CPU is a fraction of what the machine spent while it ran: the writeback threads'
    pullTable.rows = [
      ...pullTable.rows.map((x) => (x.id === "cairn-pull" ? { ...x, machineS: 7.5 } : x.id === "skopeo" ? { ...x, machineS: 5 } : x)),
      { ...timed("write", 1.5, 0.4), machineS: 1.1 }
    ]
    const b = targetBounds(r)
    const pull = b.find((x: { table: string }) => x.table === "pull")
    expect(pull.essentialCpuS).toBeCloseTo(250 / 400 + 0.9 + 1.1, 6)
    expect(pull.floorS).toBeCloseTo((250 / 400 + 0.9 + 1.1) / 2 + 0.2, 6)
    expect(pull.parts.join("; ")).toContain("writing them to files and fsyncing 1.10 s")
    expect(pull.cairnMachineS).toBe(7.5)
    expect(pull.peerMachineS).toBe(5)
    const pu = b.find((x: { table: string }) => x.table === "pull-unpack")
    const without = targetBounds(result({ tarXzf: 4.5, cairnWasm: 4, cairnCpu: 6.5, skopeo: 3, receiveCpu: 1 }))
    expect(pu.essentialCpuS - without.find((x: { table: string }) => x.table === "pull-unpack").essentialCpuS).toBeCloseTo(1.1, 6)
    // a run without the baseline says so instead of leaving the writes out silently
    expect(without.find((x: { table: string }) => x.table === "pull").parts.join("; ")).toContain("the writes (not recorded in this run)")
    // the extraction rows are set against cairn's own CPU as before
    expect(b.find((x: { table: string }) => x.table === "extract-libs").cairnMachineS).toBeUndefined()
  })

  it("does the small-file layer's arithmetic like the libs layer's", () => {
    const b = targetBounds(result({ tarXzf: 4.5, cairnWasm: 4, cairnCpu: 6.5, skopeo: 3, receiveCpu: 1 }))
    const small = b.find((x: { table: string }) => x.table === "extract-small")
    // both digests: 150 MB at 400 MB/s = 0.375 s; + gunzip 0.4 less node's start-up 0.1 + writes 0.5
    expect(small.essentialCpuS).toBeCloseTo(0.375 + 0.3 + 0.5, 6)
    expect(small.floorS).toBeCloseTo((0.375 + 0.3 + 0.5) / 2, 6)
    // tar -xzf in 2 s allows 2 s for >= 1x
    expect(small.needS).toBeCloseTo(2, 6)
    expect(small.reachable).toBe(true)
  })

  it("adds every layer's diffID, gunzip and writes to the pull for pull + unpack, from each layer's own table", () => {
    const b = targetBounds(result({ tarXzf: 4.5, cairnWasm: 4, cairnCpu: 6.5, skopeo: 3, receiveCpu: 1 }))
    const pu = b.find((x: { table: string }) => x.table === "pull-unpack")
    // the pull's 0.625 + 0.9; the diffIDs 700 / 400 = 1.75; gunzips (1.5 - 0.1) + (0.4 - 0.1) = 1.7; writes 0.6 + 0.5
    expect(pu.essentialCpuS).toBeCloseTo(0.625 + 0.9 + 1.75 + 1.7 + 1.1, 6)
    // the longest single stream: the libs layer's diffID chain, 600 / 400 = 1.5 s
    expect(pu.chainS).toBeCloseTo(1.5, 6)
    expect(pu.floorS).toBeCloseTo((0.625 + 0.9 + 1.75 + 1.7 + 1.1) / 2 + 0.3, 6)
    expect(pu.needS).toBeCloseTo(8 / 1.5, 6)
    // without the small layer's floors there is no arithmetic for it
    const r = result({ tarXzf: 4.5, cairnWasm: 4, cairnCpu: 6.5, skopeo: 3, receiveCpu: 1 })
    r.tables[2]!.rows = r.tables[2]!.rows.filter((x) => x.id !== "tar-xf")
    expect(targetBounds(r).some((x: { table: string }) => x.table === "pull-unpack")).toBe(false)
  })

  it("calls a target out of reach only when the least work cannot fit in the time it allows", () => {
    // a fast peer: tar -xzf in 2 s leaves 2 / 1.3 = 1.54 s, under the 2.2 s floor
    const b = targetBounds(result({ tarXzf: 2, cairnWasm: 4, cairnCpu: 6.5, skopeo: 1, receiveCpu: 1 }))
    const libsTar = b.find((x: { table: string; peer: string }) => x.table === "extract-libs" && x.peer === "tar-xzf")
    expect(libsTar.reachable).toBe(false)
    expect(b.find((x: { table: string }) => x.table === "pull").reachable).toBe(false)
  })

  it("leaves out a table whose floors were not measured", () => {
    const r = result({ tarXzf: 4.5, cairnWasm: 4, cairnCpu: 6.5, skopeo: 3, receiveCpu: 1 })
    r.tables[4]!.rows = r.tables[4]!.rows.filter((x) => x.id !== "receive")
    expect(targetBounds(r).some((x: { table: string }) => x.table === "pull")).toBe(false)
    expect(targetBounds(r).some((x: { table: string }) => x.table === "pull-unpack")).toBe(false)
  })
})

describe("the in-pipeline hash rate", () => {
  const withDiffId = (r: ReturnType<typeof result>, rates: number[]) => {
    const libs = r.tables.find((t) => t.id === "extract-libs") as { rows: Array<Record<string, unknown>> }
    libs.rows = libs.rows.map((x) => (x.id === "cairn-wasm" ? { ...x, metrics: { diffIdMBps: rates[1] }, metricRuns: { diffIdMBps: rates }, cpuRuns: rates.map(() => 6.5) } : x))
    return libs
  }

  it("sets the diffID worker's rate against the kernel alone timed in the table's own rounds when the run has it", () => {
    const r = result({ tarXzf: 4.5, cairnWasm: 4, cairnCpu: 6.5, skopeo: 3, receiveCpu: 1 })
    const libs = withDiffId(r, [300, 310, 320])
    // the hash table's kernel (400) was measured while the host was faster than during the extraction (320)
    libs.rows.push({ ...kernel("kernel-wasm", 320), kind: "reference" })
    const p = hashAnalysis(r).pipeline.find((x: { table: string }) => x.table === "extract-libs")
    expect(p.kernelFrom).toBe("same rounds")
    expect(p.kernelMbPerCpuS).toBe(320)
    expect(p.diffIdRatio).toBeCloseTo(310 / 320, 6)
  })

  it("falls back to the hash table's kernel in a run without the same-round reference", () => {
    const r = result({ tarXzf: 4.5, cairnWasm: 4, cairnCpu: 6.5, skopeo: 3, receiveCpu: 1 })
    withDiffId(r, [300, 310, 320])
    const p = hashAnalysis(r).pipeline.find((x: { table: string }) => x.table === "extract-libs")
    expect(p.kernelFrom).toBe("hash table")
    expect(p.diffIdRatio).toBeCloseTo(310 / 400, 6)
  })
})
