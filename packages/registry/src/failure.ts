// The typed failures of registry operations, and the bridge from Promise code into Effect.
import { DigestMismatchError, errorGuard, InvalidDigestError, SizeMismatchError, UnsupportedAlgorithmError } from "@cairn/digest"
import { InvalidPlatformError, NoMatchingPlatformError, OciDecodeError } from "@cairn/oci-spec/lazy"
import * as Effect from "effect/Effect"
import {
  AuthError,
  BlobCompleteHookError,
  BlobNotFoundError,
  BlobSinkError,
  ContentLengthError,
  InvalidReferenceError,
  ManifestDigestError,
  ManifestTooLargeError,
  RegistryError,
  TransportError,
  UnsupportedManifestError
} from "./errors.js"
import { BlockedRegistryError, RegistriesConfError } from "./registriesConf.js"

/** Every class a registry operation can fail with. */
export const RegistryErrors = [
  AuthError,
  BlockedRegistryError,
  BlobCompleteHookError,
  BlobNotFoundError,
  BlobSinkError,
  ContentLengthError,
  DigestMismatchError,
  InvalidDigestError,
  InvalidPlatformError,
  InvalidReferenceError,
  ManifestDigestError,
  ManifestTooLargeError,
  NoMatchingPlatformError,
  OciDecodeError,
  RegistriesConfError,
  RegistryError,
  SizeMismatchError,
  TransportError,
  UnsupportedAlgorithmError,
  UnsupportedManifestError
] as const

/** Everything a registry operation can fail with. */
export type RegistryFailure = InstanceType<(typeof RegistryErrors)[number]>

export const isRegistryFailure = errorGuard(RegistryErrors)

/**
 * Runs Promise code as an Effect: its AbortSignal fires on interruption (so a failed sibling
 * download stops the others), and the interruption waits until the Promise has settled, so no
 * sink write is still running when the pull has already failed. Known failures are typed,
 * anything else is a defect (a bug).
 */
export const attempt = <A>(f: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, RegistryFailure> =>
  Effect.callback<A, RegistryFailure>((resume) => {
    const controller = new AbortController()
    let running: Promise<A>
    try {
      running = f(controller.signal)
    } catch (e) {
      running = Promise.reject(e)
    }
    running.then(
      (a) => resume(Effect.succeed(a)),
      (e) => resume(isRegistryFailure(e) ? Effect.fail(e) : Effect.die(e))
    )
    return Effect.promise(() => {
      controller.abort()
      return running.then(
        () => undefined,
        () => undefined
      )
    })
  })
