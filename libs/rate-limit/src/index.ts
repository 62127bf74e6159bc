export {
  BucketBlockedError,
  type BucketSettings,
  createRateLimiter,
  type RateLimiter,
} from "./bucket-limiter.ts";
