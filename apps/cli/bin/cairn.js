#!/bin/sh
':' //; exec node --initial-old-space-size=64 "$0" "$@"
// Thin launcher, committed so that npm links the `cairn` bin at install time, before a build.
// --initial-old-space-size=64: V8's old generation may reach 64 MB before its first full GC. A
// pull's socket reads and file batches are external memory that V8 counts against that limit, and
// with its default (about 40 MB over a 17 MB live heap) V8 ran 41-86 mark-compacts in one pull +
// unpack of the 3-layer bench image; with it, 0-10, and 11.3-13.3 s instead of 12.1-14.9 s (by
// hand, in-process, interleaved). Given on node's command line: v8.setFlagsFromString, at run
// time, took effect in some processes only. Embedders get the same by passing it to node themselves.
// The first two lines are both sh and JavaScript (node skips the #! line; the second is a string
// and a comment to it): sh runs node with the flag, as `#!/usr/bin/env -S node …` would where
// env has -S (busybox's, Alpine's, has not).
import { main } from "../dist/main.js"

// a closed pipe on stdout (`cairn cat … | head`) ends the command quietly, as other tools do
process.stdout.on("error", (e) => {
  if (e.code === "EPIPE") process.exit(0)
  throw e
})

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
