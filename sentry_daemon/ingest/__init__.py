"""What SDKs send, from request to stored state: auth, decoding, envelopes, limits, normalization."""
