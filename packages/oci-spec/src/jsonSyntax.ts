// Locates the first JSON syntax error (RFC 8259): V8's JSON.parse message only sometimes names a
// position, and a caller fixing a broken document needs one.

/** Character index of the first syntax error in `text`, or undefined when it is valid JSON. */
export const jsonErrorIndex = (text: string): number | undefined => {
  let i = 0
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++
  }
  const fail = (at = i): never => {
    throw at
  }
  const literal = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) fail()
      i++
    }
  }
  const string = () => {
    i++ // opening quote
    for (;;) {
      const c = text.charCodeAt(i)
      if (i >= text.length || c < 0x20) fail()
      if (c === 0x22) return void i++
      if (c === 0x5c) {
        i++
        const e = text[i]
        if (e === "u") {
          for (let k = 1; k <= 4; k++) if (!/[0-9a-fA-F]/.test(text[i + k] ?? "")) fail(i + k)
          i += 5
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++
        else fail()
      } else i++
    }
  }
  const number = () => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400))
    if (!m || m[0] === "-") fail()
    i += m![0].length
  }
  const value = (): void => {
    ws()
    const c = text[i]
    if (c === "{") {
      i++
      ws()
      if (text[i] === "}") return void i++
      for (;;) {
        ws()
        if (text[i] !== '"') fail()
        string()
        ws()
        if (text[i] !== ":") fail()
        i++
        value()
        ws()
        if (text[i] === ",") i++
        else if (text[i] === "}") return void i++
        else fail()
      }
    }
    if (c === "[") {
      i++
      ws()
      if (text[i] === "]") return void i++
      for (;;) {
        value()
        ws()
        if (text[i] === ",") i++
        else if (text[i] === "]") return void i++
        else fail()
      }
    }
    if (c === '"') string()
    else if (c === "t") literal("true")
    else if (c === "f") literal("false")
    else if (c === "n") literal("null")
    else if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) number()
    else fail()
  }
  try {
    value()
    ws()
    if (i < text.length) fail()
    return undefined
  } catch (e) {
    if (typeof e === "number") return e
    throw e
  }
}
