/// What the access log needs of a request, kept until its response goes out.
struct RequestSummary {
    let protocolName: String
    let method: String
    let target: String
    let startedAt: UInt64
}
