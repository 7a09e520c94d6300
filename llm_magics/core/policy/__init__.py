"""The policy stack every call goes through: cache -> breaker -> limiter -> retry -> client."""
