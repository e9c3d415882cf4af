// mount(2) and umount2(2) without forking mount(8)/umount(8) per call: one long-lived perl
// process per MountState (state.ts: the package's default, one per engine) makes the syscalls (perl-base is Essential on Debian; its core
// `syscall` builtin is all we need). Fork/exec of util-linux dominated latency: 73-123 ms for
// a 100-layer mount+unmount under load, against ~2 ms + one sync for the calls themselves.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { getSystemErrorName } from "node:util"
import * as Effect from "effect/Effect"
import { findOnPath } from "./command.js"
import { MountHelperExitedError } from "./errors.js"
import type { MountCall } from "./flags.js"
import { defaultMountState, MountRuntime, type MountState } from "./state.js"

/**
 * The helper program, run with `perl -e` (nothing to ship or find on disk). One request per
 * line, fields separated by spaces, strings hex-encoded ("-" is a NULL pointer, "" an empty
 * string), numbers in decimal:
 *   P                                          -> ping
 *   M <cwd|-> <source> <target> <fstype> <flags> <data>   -> chdir(cwd); mount(2); chdir("/")
 *   U <target> <flags>                         -> umount2(2)
 * Reply: "0", or "<errno> <strerror>". Perl's syscall passes a numeric argument as an integer
 * and a string as a pointer to its NUL-terminated buffer (perlfunc "syscall"), so NULL is 0.
 */
export const HELPER_PROGRAM = `$| = 1;
my ($nr_mount, $nr_umount2) = @ARGV;
sub arg { $_[0] eq "-" ? 0 : pack("H*", $_[0]) }
while (defined(my $line = <STDIN>)) {
  chomp $line;
  my ($op, @f) = split / /, $line, -1;
  my $r = -1;
  if ($op eq "P") { print "0\\n"; next }
  elsif ($op eq "M" && @f == 6) {
    if ($f[0] ne "-" && !chdir(pack("H*", $f[0]))) { print 0 + $!, " chdir: $!\\n"; next }
    $r = syscall($nr_mount + 0, arg($f[1]), arg($f[2]), arg($f[3]), $f[4] + 0, arg($f[5]));
  } elsif ($op eq "U" && @f == 2) {
    $r = syscall($nr_umount2 + 0, arg($f[0]), $f[1] + 0);
  } else { $! = 22 }
  my $e = $! + 0; my $m = "$!";
  chdir("/");
  print $r == 0 ? "0\\n" : "$e $m\\n";
}
`

/** [mount, umount2] (arch/x86/entry/syscalls/syscall_64.tbl; include/uapi/asm-generic/unistd.h for arm64). */
const SYSCALL_NUMBERS: Readonly<Partial<Record<string, readonly [number, number]>>> = { x64: [165, 166], arm64: [40, 39] }


/** What a call returned: errno 0 on success, else its name ("EBUSY") and strerror text. */
export interface SyscallResult {
  readonly errno: number
  readonly code: string
  readonly detail: string
}

const OK: SyscallResult = { errno: 0, code: "", detail: "" }

const parseReply = (line: string): SyscallResult => {
  if (line === "0") return OK
  const space = line.indexOf(" ")
  const errno = Number(space < 0 ? line : line.slice(0, space))
  if (!Number.isInteger(errno) || errno <= 0) return { errno: 5, code: "EIO", detail: `unexpected helper reply: ${line}` }
  let code = `errno ${errno}`
  try {
    code = getSystemErrorName(-errno)
  } catch {}
  return { errno, code, detail: space < 0 ? code : line.slice(space + 1) }
}

const hex = (s: string | null): string => (s === null ? "-" : Buffer.from(s, "utf8").toString("hex"))



export interface HelperStatus {
  /** Mounts and unmounts go through the helper (else util-linux mount(8)/umount(8)). */
  readonly enabled: boolean
  /** "mount(2) via helper" or "mount(8)", for reports. */
  readonly via: "mount(2) via helper" | "mount(8)"
  readonly reason: string
}

/** Whether to use the helper; read at every call so CAIRN_MOUNT_HELPER=0 can be set at any time. */
export const helperStatus = (state: MountState = defaultMountState): HelperStatus => {
  const off = (reason: string): HelperStatus => ({ enabled: false, via: "mount(8)", reason })
  if (process.env.CAIRN_MOUNT_HELPER === "0") return off("CAIRN_MOUNT_HELPER=0: mount(8) and umount(8) per call")
  if (process.platform !== "linux") return off(`no mount(2) on ${process.platform}`)
  if (SYSCALL_NUMBERS[process.arch] === undefined) return off(`no mount(2) syscall numbers known for ${process.arch}: mount(8) per call`)
  if (state.broken !== undefined) return off(`the mount(2) helper failed (${state.broken}): mount(8) per call`)
  const perl = findOnPath("perl")
  if (perl === undefined) return off("perl not found (Debian package perl-base): mount(8) per call")
  return { enabled: true, via: "mount(2) via helper", reason: `mount(2)/umount2(2) from one ${perl} helper process (CAIRN_MOUNT_HELPER=0: mount(8) per call)` }
}

/** A request's timeout, as execFile's for mount(8): a hung call (dead NFS, stuck fuse) must not block forever. */
const TIMEOUT_MS = 30_000

interface Waiter {
  readonly line: string
  readonly done: (reply: string | MountHelperExitedError) => void
  readonly timer: NodeJS.Timeout
}

interface Unrefable {
  ref(): void
  unref(): void
}

/** One perl process; requests are written at once and answered in order (FIFO). */
export class Helper {
  readonly child: ChildProcessWithoutNullStreams
  readonly pid: number | undefined
  private readonly waiters: Array<Waiter> = []
  private out = ""
  private err = ""
  private answered = 0
  private timedOut = false
  private exited = false

  constructor(
    perl: string,
    numbers: readonly [number, number],
    private readonly state: MountState
  ) {
    // cwd "/" pins no test or container directory; a bare env keeps PERL5OPT/PERL5LIB out
    this.child = spawn(perl, ["-e", HELPER_PROGRAM, String(numbers[0]), String(numbers[1])], {
      cwd: "/",
      stdio: ["pipe", "pipe", "pipe"],
      env: { LC_ALL: "C" }
    })
    this.pid = this.child.pid
    this.child.stdout.setEncoding("utf8")
    this.child.stdout.on("data", (chunk: string) => this.onData(chunk))
    this.child.stderr.setEncoding("utf8")
    this.child.stderr.on("data", (chunk: string) => {
      this.err = (this.err + chunk).slice(-2000)
    })
    // EPIPE after the helper died: its 'close' fails the waiters
    this.child.stdin.on("error", () => {})
    this.child.on("error", (e) => {
      if (this.pid === undefined) this.die(null, null, `could not start: ${e.message}`)
    })
    this.child.on("close", (code, signal) => this.die(code, signal, undefined))
    this.setActive(false)
  }

  get alive(): boolean {
    return !this.exited
  }

  /** Ends the helper: perl exits at the end of its input; waiters still queued get MountHelperExitedError. */
  stop(): void {
    if (this.exited) return
    this.child.stdin.end()
    this.child.kill("SIGTERM")
  }

  send(line: string, done: Waiter["done"]): void {
    if (this.exited) {
      done(this.exitError(null, null, "had exited"))
      return
    }
    const timer = setTimeout(() => {
      this.timedOut = true
      this.child.kill("SIGKILL")
    }, TIMEOUT_MS)
    timer.unref()
    this.waiters.push({ line, done, timer })
    if (this.waiters.length === 1) this.setActive(true)
    this.child.stdin.write(`${line}\n`)
  }

  /** Holds the event loop open only while a reply is awaited, so an idle helper never keeps Node running. */
  private setActive(active: boolean): void {
    for (const handle of [this.child, this.child.stdin, this.child.stdout, this.child.stderr] as ReadonlyArray<unknown>) {
      const h = handle as Partial<Unrefable>
      if (active) h.ref?.()
      else h.unref?.()
    }
  }

  private onData(chunk: string): void {
    this.out += chunk
    let nl = this.out.indexOf("\n")
    while (nl >= 0) {
      const line = this.out.slice(0, nl)
      this.out = this.out.slice(nl + 1)
      const w = this.waiters.shift()
      if (w !== undefined) {
        clearTimeout(w.timer)
        this.answered++
        w.done(line)
      }
      nl = this.out.indexOf("\n")
    }
    if (this.waiters.length === 0) this.setActive(false)
  }

  private exitError(code: number | null, signal: NodeJS.Signals | null, reason: string | undefined): MountHelperExitedError {
    return new MountHelperExitedError({
      pid: this.pid,
      exitCode: code,
      signal,
      reason: reason ?? (this.timedOut ? `was killed after ${TIMEOUT_MS / 1000} s without an answer` : signal !== null ? `was killed by ${signal}` : `exited with code ${code}`),
      stderr: this.err.trim()
    })
  }

  private die(code: number | null, signal: NodeJS.Signals | null, reason: string | undefined): void {
    if (this.exited) return
    this.exited = true
    if (this.state.helper === this) this.state.helper = undefined
    const error = this.exitError(code, signal, reason)
    // never answered anything on its own (no kill from outside, no timeout): perl cannot run the program here
    if (this.answered === 0 && !this.timedOut && (signal === null || this.pid === undefined)) {
      this.state.broken = error.stderr === "" ? error.reason : `${error.reason}: ${error.stderr.split("\n")[0]}`
    }
    this.setActive(false)
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer)
      w.done(error)
    }
  }
}

const helperOf = (state: MountState): Helper => {
  if (state.helper?.alive === true) return state.helper
  const numbers = SYSCALL_NUMBERS[process.arch] ?? [0, 0]
  state.helper = new Helper(findOnPath("perl") ?? "perl", numbers, state)
  return state.helper
}

/** The running helper's pid (spawned on first use), for tests and diagnostics. */
export const helperPid = (state: MountState = defaultMountState): number | undefined => (state.helper?.alive === true ? state.helper.pid : undefined)

/** helperStatus() of the MountState the calling Effect runs with. */
export const currentHelperStatus: Effect.Effect<HelperStatus> = Effect.map(Effect.service(MountRuntime), (s) => helperStatus(s))

/**
 * Sends one request. The syscall cannot be taken back once written, so the wait is
 * uninterruptible: an interrupted caller would otherwise leave a mount nobody owns.
 */
const request = (line: string): Effect.Effect<SyscallResult, MountHelperExitedError> =>
  Effect.flatMap(Effect.service(MountRuntime), (state) => Effect.uninterruptible(
    Effect.callback<SyscallResult, MountHelperExitedError>((resume) => {
      helperOf(state).send(line, (reply) => resume(typeof reply === "string" ? Effect.succeed(parseReply(reply)) : Effect.fail(reply)))
    })
  ))

/** Starts the helper if needed and waits for its answer: proof that it runs here. */
export const pingHelper: Effect.Effect<void, MountHelperExitedError> = Effect.asVoid(request("P"))

/** mount(2) through the helper. A failed call is a result (errno), not an error; a dead helper is. */
export const sysMount = (call: MountCall): Effect.Effect<SyscallResult, MountHelperExitedError> =>
  request(
    [
      "M",
      call.cwd === undefined ? "-" : hex(call.cwd),
      hex(call.source),
      hex(call.target),
      hex(call.fstype),
      String(call.flags >>> 0),
      hex(call.data)
    ].join(" ")
  )

/** umount2(2) through the helper. */
export const sysUmount = (target: string, flags: number): Effect.Effect<SyscallResult, MountHelperExitedError> =>
  request(`U ${hex(target)} ${flags >>> 0}`)
