// The registries configuration an engine follows (mirrors, locations, plain HTTP, blocks): the
// file given, else `<root>/registries.conf` when it exists (format: @cairn/registry README).
import { join } from "node:path"
import { loadRegistriesConf, type RegistriesConfig } from "@cairn/registry/registries-conf"

export const REGISTRIES_CONF = "registries.conf"

/** The configuration from `file` (which must exist), else from `<root>/registries.conf` (empty when absent). */
export function engineRegistries(root: string, file?: string): RegistriesConfig {
  return file !== undefined ? loadRegistriesConf(file) : loadRegistriesConf(join(root, REGISTRIES_CONF), { optional: true })
}

/** What `info` shows: the file and its registries, or why it could not be used. */
export function registriesInfo(root: string, file?: string): { file: string; registries: RegistriesConfig["registries"]; error?: string } {
  const path = file ?? join(root, REGISTRIES_CONF)
  try {
    return { file: path, registries: engineRegistries(root, file).registries }
  } catch (e) {
    return { file: path, registries: [], error: (e as Error).message }
  }
}
