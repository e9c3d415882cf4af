// `--format` as docker and podman take it: a Go-template-like string over a row's fields —
// `{{.ID}}\t{{.Repository}}`, `{{json .}}`, `{{json .Field}}`, `\t`/`\n` escapes, a `table `
// prefix that adds a header row and aligns columns, and `json` for one JSON object per line.
import { UsageError } from "./errors.js"
import { table } from "./output.js"

export type Row = Readonly<Record<string, string | number | boolean>>

type Part = { readonly text: string } | { readonly field: string | undefined; readonly json: boolean }

const unescapeText = (s: string) => s.replace(/\\([tn\\])/g, (_, c: string) => (c === "t" ? "\t" : c === "n" ? "\n" : "\\"))

/** `CreatedAt` -> `CREATED AT`, `ID` -> `ID`: docker's header for a field. */
const header = (field: string) => field.replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase()

function parse(template: string, fields: readonly string[], command: string): Part[] {
  const parts: Part[] = []
  const re = /\{\{-?\s*(.*?)\s*-?\}\}/g
  let at = 0
  for (const m of template.matchAll(re)) {
    if (m.index > at) parts.push({ text: unescapeText(template.slice(at, m.index)) })
    at = m.index + m[0].length
    const action = /^(json\s+)?\.([A-Za-z][A-Za-z0-9]*)?$/.exec(m[1] ?? "")
    if (!action) throw new UsageError(`--format: cannot read {{${m[1]}}}: use {{.Field}}, {{json .}} or {{json .Field}}`, command)
    const field = action[2]
    if (field !== undefined && !fields.includes(field)) {
      throw new UsageError(`--format: no field "${field}" in ${command}'s rows; the fields are ${fields.map((f) => `.${f}`).join(", ")}`, command)
    }
    parts.push({ field, json: action[1] !== undefined || field === undefined })
  }
  if (at < template.length) parts.push({ text: unescapeText(template.slice(at)) })
  return parts
}

const render = (parts: readonly Part[], row: Row) =>
  parts.map((p) => ("text" in p ? p.text : p.field === undefined ? JSON.stringify(row) : p.json ? JSON.stringify(row[p.field]) : String(row[p.field] ?? ""))).join("")

/** The --format option of a listing whose rows have `fields`. */
export const formatOpt = (fields: readonly string[]) =>
  ({
    type: "string",
    value: "FORMAT",
    description: `a Go-template-like row format ({{.${fields[0]}}}\\t{{.${fields[1]}}}, {{json .}}, 'table …' for a header) or json; fields: ${fields.join(", ")}`
  }) as const

/** The output of `rows` under `format`, one line per row (with `table`, a header and aligned columns). */
export function formatRows(format: string, fields: readonly string[], rows: readonly Row[], command: string): string {
  if (format === "json") return rows.map((r) => `${JSON.stringify(r)}\n`).join("")
  const tableMode = /^table(\s|$)/.test(format)
  const body = tableMode ? format.replace(/^table\s*/, "") || fields.map((f) => `{{.${f}}}`).join("\t") : format
  const parts = parse(body, fields, command)
  if (!tableMode) return rows.map((r) => `${render(parts, r)}\n`).join("")
  const heading = parts.map((p) => ("text" in p ? p.text : p.field === undefined ? "" : header(p.field))).join("")
  return `${table(heading.split("\t"), rows.map((r) => render(parts, r).split("\t")))}\n`
}
