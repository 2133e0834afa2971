using System.Net;

namespace TrapReplace.Data;

/// <summary>
/// Thrown when a data-set file cannot be downloaded completely and correctly. The message names the
/// URL and the problem; no partial file is left behind.
/// </summary>
public sealed class DatasetDownloadException : IOException
{
    /// <summary>Creates the exception for <paramref name="url"/>.</summary>
    /// <param name="url">The URL that was requested.</param>
    /// <param name="kind">What went wrong.</param>
    /// <param name="problem">A description of the problem, without the URL.</param>
    /// <param name="inner">The underlying exception, if any.</param>
    /// <param name="statusCode">The HTTP status, for <see cref="DownloadFailureKind.HttpStatus"/>.</param>
    public DatasetDownloadException(Uri url, DownloadFailureKind kind, string problem, Exception? inner = null, HttpStatusCode? statusCode = null)
        : base($"{url}: {problem}", inner)
    {
        ArgumentNullException.ThrowIfNull(url);
        Url = url;
        Kind = kind;
        Problem = problem;
        StatusCode = statusCode;
    }

    /// <summary>The URL that was requested.</summary>
    public Uri Url { get; }

    /// <summary>What went wrong.</summary>
    public DownloadFailureKind Kind { get; }

    /// <summary>The problem, without the URL.</summary>
    public string Problem { get; }

    /// <summary>The HTTP status the server sent, when <see cref="Kind"/> is <see cref="DownloadFailureKind.HttpStatus"/>.</summary>
    public HttpStatusCode? StatusCode { get; }
}
