#!/usr/bin/env node
// Thin launcher, committed so that npm links the `cairn-api` bin at install time, before a build.
import { main } from "../dist/main.js"

main(process.argv.slice(2)).then((code) => {
  if (code !== undefined) process.exitCode = code
})
