/// Everything about the server that is not the application: where it listens, TLS, and
/// the limits that keep hostile or slow clients from hurting the others.
public struct HTTPServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// Mutual TLS: clients must present a certificate this PEM CA bundle verifies; plaintext
    /// connections are then refused too (they would carry no certificate).
    public var tlsClientCA: String?
    public var maxBodyBytes = 16 << 20
    public var maxHeaderBytes = 64 << 10
    public var maxRequestLine = 8192
    public var maxHeaderCount = 100
    public var maxConnections = 4096
    /// Streams in flight per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS).
    public var maxConcurrentStreams = 100
    /// Requests being processed across all connections; beyond it, 503 at once.
    public var maxInflightRequests = 2048
    public var idleTimeoutSeconds = 60.0
    /// From a request's first byte to the end of its headers (slowloris).
    public var headerTimeoutSeconds = 10.0
    /// Longest pause while a request body (or an HTTP/2 request) is still arriving.
    public var bodyTimeoutSeconds = 30.0
    /// From a request's first byte to its last (headers and body): a client that trickles
    /// bytes just fast enough to dodge the pause timeouts still cannot hold a slot longer.
    public var requestTimeoutSeconds = 60.0
    /// Longest a connection may have unsent answers without the client reading any of them.
    public var sendTimeoutSeconds = 30.0
    /// Request bodies held at once across all connections (arriving, or being processed).
    public var maxBufferedBodyBytes = 256 << 20
    /// Unsent answer bytes per connection: past it, no further pipelined HTTP/1.1 request is
    /// processed and no further HTTP/2 data is produced until the client reads.
    public var maxResponseQueueBytes = 4 << 20
    public var shutdownTimeoutSeconds = 30.0
    /// HEADERS+RST_STREAM pairs tolerated per second per connection (HTTP/2 Rapid Reset).
    public var streamResetBurst = 1000
    public var streamResetRatePerSecond = 100

    public init() {}
}
