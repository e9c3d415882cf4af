#!/usr/bin/env node
// Thin launcher, committed so that npm links the `cairn` bin at install time, before a build.
import { main } from "../dist/main.js"

// a closed pipe on stdout (`cairn cat … | head`) ends the command quietly, as other tools do
process.stdout.on("error", (e) => {
  if (e.code === "EPIPE") process.exit(0)
  throw e
})

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
