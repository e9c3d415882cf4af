// TypeDoc names a module after its entry point's path (packages/digest/src); name each one after
// its package instead (@cairn/digest), as a user imports it. Loaded by typedoc.json's "plugin".
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Converter, ReflectionKind } from "typedoc"

const root = join(import.meta.dirname, "..")

export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const module of context.project.getReflectionsByKind(ReflectionKind.Module)) {
      const dir = /^((?:packages|apps)\/[^/]+)\/src$/.exec(module.name)?.[1]
      if (dir) module.name = JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")).name
    }
  })
}
