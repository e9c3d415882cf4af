import type { Command } from "../command.js"
import { load, save } from "./archive.js"
import { bench } from "./bench.js"
import { build } from "./build.js"
import { completion } from "./completion.js"
import { cp } from "./cp.js"
import { events } from "./events.js"
import { commit, create, diff, mount, ps, rm, umount, unshare } from "./containers.js"
import { analyze, bundle, cat, exportCmd, exportFs, flatten, history, images, importCmd, inspect, ls, rmi, tag, unpack } from "./images.js"
import { login, logout } from "./login.js"
import { copy, pull, push } from "./registry.js"
import { serve } from "./serve.js"
import { df, fsck, info, prune } from "./system.js"

/** Every command, in the order `cairn --help` lists them. */
export const commands: readonly Command[] = [
  importCmd,
  exportCmd,
  save,
  load,
  images,
  inspect,
  history,
  tag,
  rmi,
  unpack,
  bundle,
  ls,
  cat,
  flatten,
  exportFs,
  analyze,
  create,
  mount,
  umount,
  ps,
  diff,
  cp,
  commit,
  build,
  rm,
  unshare,
  pull,
  push,
  copy,
  login,
  logout,
  df,
  prune,
  fsck,
  info,
  events,
  serve,
  bench,
  completion
]
