// Every typed failure of @cairn/oci-spec (with the digest checks its decoders run), as one list:
// the union type and the guard.
import { DigestErrors, errorGuard } from "@cairn/digest"
import { OciDecodeError } from "./ociDecodeError.js"
import { InvalidPlatformError, NoMatchingPlatformError } from "./platform.js"

export const OciSpecErrors = [OciDecodeError, InvalidPlatformError, NoMatchingPlatformError, ...DigestErrors] as const

export type OciSpecError = InstanceType<(typeof OciSpecErrors)[number]>

export const isOciSpecError = errorGuard(OciSpecErrors)
