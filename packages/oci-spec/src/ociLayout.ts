// The `oci-layout` marker file of an image layout (image-spec image-layout.md).
import * as Schema from "effect/Schema"
import { openStruct } from "./descriptor.js"

export const OciLayout = openStruct({ imageLayoutVersion: Schema.String })
export type OciLayout = typeof OciLayout.Type
