namespace TrapReplace.Data;

/// <summary>Why a download failed.</summary>
public enum DownloadFailureKind
{
    /// <summary>The host could not be resolved or connected to (offline, DNS failure, connection refused).</summary>
    Unreachable,

    /// <summary>The server answered with a non-success HTTP status.</summary>
    HttpStatus,

    /// <summary>The body ended before the announced Content-Length, or ran past it.</summary>
    Truncated,

    /// <summary>The digest of the received bytes differs from the expected one.</summary>
    ChecksumMismatch,

    /// <summary>No data arrived for longer than the stall timeout (or the HTTP client's timeout passed).</summary>
    TimedOut,

    /// <summary>Any other transport failure (TLS, protocol error, connection reset).</summary>
    Network,

    /// <summary>The body is (or announces itself as) larger than the size cap.</summary>
    TooLarge,

    /// <summary>Plain http from a non-loopback host with no digest to check the file against: refused.</summary>
    Insecure,
}
