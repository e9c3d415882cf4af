// The `oci-layout` marker file of an image layout (image-spec image-layout.md).
import { Schema } from "effect"
import { openStruct } from "./descriptor.js"

export const OciLayout = openStruct({ imageLayoutVersion: Schema.String })
export type OciLayout = typeof OciLayout.Type
