/// What one `HTTP1Parser.feed` call found, in order. A message is always `head`, any number of
/// `body` pieces (split wherever the input was split), then `end`.
public enum HTTP1Event: Sendable {
    case head(HTTP1RequestHead)
    case body([UInt8])
    case end
}
