// The /v2 distribution API lives in ./v2/ (routes, manifests, blobs, uploads, listings); this
// module keeps the import path server.ts and the tests use.
export { type DistributionOptions, pushLeaseId, type V2Request } from "./v2/context.js"
export { Distribution, matchV2, type Route } from "./v2/routes.js"
