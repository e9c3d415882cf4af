#!/usr/bin/env node
// Thin launcher, committed so that npm links the `cairn` bin at install time, before a build.
import { main } from "../dist/main.js"

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
