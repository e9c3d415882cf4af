#!/bin/sh
':' //; exec node --initial-old-space-size=64 "$0" "$@"
// Thin launcher, committed so that npm links the `cairn-api` bin at install time, before a build.
// Started as apps/cli/bin/cairn.js is, with the same node flag: its comment says why and how.
import { main } from "../dist/main.js"

main(process.argv.slice(2)).then((code) => {
  if (code !== undefined) process.exitCode = code
})
